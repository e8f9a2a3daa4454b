import { printable } from '../lib/text.ts';
/**
 * pkt-line framing (gitprotocol-common): 4 hex digits of length (including themselves) then payload;
 * `0000` flush, `0001` delim, `0002` response-end. Parsing is incremental because SSH delivers
 * arbitrary chunks.
 */

export const MAX_PKT_LEN = 65520;
/** Largest side-band-64k payload: 65520 - 4 (length) - 1 (band). */
export const MAX_SIDEBAND_PAYLOAD = 65515;

export type Pkt = { kind: 'flush' } | { kind: 'delim' } | { kind: 'end' } | { kind: 'data'; data: Buffer };

export class PktLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PktLineError';
  }
}

export function encodePkt(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const len = body.length + 4;
  if (len > MAX_PKT_LEN) throw new PktLineError(`pkt-line payload too long (${body.length} bytes)`);
  return Buffer.concat([Buffer.from(len.toString(16).padStart(4, '0'), 'ascii'), body]);
}

export const FLUSH = Buffer.from('0000', 'ascii');
export const DELIM = Buffer.from('0001', 'ascii');

/** Splits a buffer into side-band packets on `band` (1 data, 2 progress, 3 error). */
export function encodeSideband(band: 1 | 2 | 3, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += MAX_SIDEBAND_PAYLOAD) {
    const part = data.subarray(i, i + MAX_SIDEBAND_PAYLOAD);
    out.push(encodePkt(Buffer.concat([Buffer.from([band]), part])));
  }
  return out;
}

/**
 * Pulls complete pkt-lines out of a growing buffer. `take()` returns the next packet or null when
 * more bytes are needed; `rest()` hands back unconsumed bytes (the pack that follows the commands).
 */
export class PktReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  take(): Pkt | null {
    if (this.buf.length < 4) return null;
    const head = this.buf.subarray(0, 4).toString('ascii');
    if (!/^[0-9a-fA-F]{4}$/.test(head)) throw new PktLineError(`invalid pkt-line length '${printable(head)}'`);
    const len = parseInt(head, 16);
    if (len === 0 || len === 1 || len === 2) {
      this.buf = this.buf.subarray(4);
      return { kind: len === 0 ? 'flush' : len === 1 ? 'delim' : 'end' };
    }
    if (len < 4) throw new PktLineError(`invalid pkt-line length ${len}`);
    if (len > MAX_PKT_LEN) throw new PktLineError(`pkt-line too long (${len} bytes)`);
    if (this.buf.length < len) return null;
    const data = this.buf.subarray(4, len);
    this.buf = this.buf.subarray(len);
    return { kind: 'data', data };
  }

  rest(): Buffer {
    const r = this.buf;
    this.buf = Buffer.alloc(0);
    return r;
  }

  get buffered(): number {
    return this.buf.length;
  }
}

/** The text of a data packet without its trailing newline. */
export function pktText(p: Pkt): string {
  if (p.kind !== 'data') return '';
  const s = p.data.toString('utf8');
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

