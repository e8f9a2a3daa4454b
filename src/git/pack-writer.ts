/**
 * `git pack-objects --stdout` for a given object list: streams a pack v2, copying stored
 * compressed entries as they are (deltas included, when their base is sent too).
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, deflateSync } from 'node:zlib';
import { GitFormatError } from './objects.ts';
import type { ObjectStore, PackedEntry } from './object-store.ts';
import type { PackFile } from './pack-file.ts';
import {
  DEFLATE_LEVEL,
  OBJ_OFS_DELTA,
  OBJ_REF_DELTA,
  PACK_SIGNATURE,
  encodeEntryHeader,
  encodeOfsDistance,
  typeCode,
} from './pack-format.ts';

export interface WritePackOptions {
  /** the client accepts OFS_DELTA (else reused deltas are sent as REF_DELTA) */
  ofsDelta: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Which stored copy of an object to copy (gc picks among several packs); default: the store's first. */
  entryOf?: (oid: string) => PackedEntry | null;
  /** Each entry as written: its oid, offset and the CRC-32 of its bytes, what an idx records (gc writes its own). */
  onEntry?: (oid: string, offset: number, crc: number) => void;
}

const CHUNK = 64 << 10;
const YIELD_EVERY = 256;

/** Writes a pack holding exactly `oids` (distinct); a delta's base is written before it. Returns the pack's checksum. */
export async function writePack(
  oids: string[],
  store: ObjectStore,
  write: (chunk: Buffer) => Promise<void> | void,
  opts: WritePackOptions,
): Promise<Buffer> {
  const sending = new Set(oids);
  if (sending.size !== oids.length) throw new Error('writePack needs distinct oids');
  const entryOf = opts.entryOf ?? ((oid: string) => store.packedEntry(oid));
  const out = new PackOutput(write, opts.onEntry !== undefined);
  const head = Buffer.alloc(12);
  head.writeUInt32BE(PACK_SIGNATURE, 0);
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(oids.length, 8);
  await out.put(head);

  /** output offset of every object written so far */
  const written = new Map<string, number>();
  const writeOne = async (oid: string, entry: PackedEntry | null): Promise<void> => {
    written.set(oid, out.offset);
    if (entry?.kind === 'full') {
      await out.put(encodeEntryHeader(typeCode(entry.type!), entry.size));
      await out.copy(entry.pack, entry.rawStart, entry.rawEnd);
      return;
    }
    const baseAt = entry?.baseOid !== undefined ? written.get(entry.baseOid) : undefined;
    if (entry && baseAt !== undefined) {
      const ofs = opts.ofsDelta;
      await out.put(encodeEntryHeader(ofs ? OBJ_OFS_DELTA : OBJ_REF_DELTA, entry.size));
      await out.put(ofs ? encodeOfsDistance(written.get(oid)! - baseAt) : Buffer.from(entry.baseOid!, 'hex'));
      await out.copy(entry.pack, entry.rawStart, entry.rawEnd);
      return;
    }
    const obj = store.read(oid);
    if (!obj) throw new GitFormatError(`object ${oid} is missing from the repository`);
    await out.put(encodeEntryHeader(typeCode(obj.type), obj.data.length));
    await out.put(deflateSync(obj.data, { level: DEFLATE_LEVEL }));
  };

  let done = 0;
  for (const oid of oids) {
    if (written.has(oid)) continue;
    // Walk down the stored delta chain to the first base that is written or not sent, then write back up.
    const chain: Array<{ oid: string; entry: PackedEntry | null }> = [];
    let cur: string | undefined = oid;
    while (cur !== undefined) {
      const entry = entryOf(cur);
      chain.push({ oid: cur, entry });
      const base = entry?.baseOid;
      const needsBase = base !== undefined && sending.has(base) && !written.has(base) && !chain.some((c) => c.oid === base);
      cur = needsBase ? base : undefined;
    }
    for (let k = chain.length - 1; k >= 0; k--) {
      const at = out.offset;
      out.crc = 0;
      await writeOne(chain[k]!.oid, chain[k]!.entry);
      opts.onEntry?.(chain[k]!.oid, at, out.crc);
      if (++done % YIELD_EVERY === 0) {
        opts.onProgress?.(done, oids.length);
        await yieldToLoop();
      }
    }
  }
  const checksum = await out.end();
  opts.onProgress?.(done, oids.length);
  return checksum;
}

/** Buffers output into ~64 KiB chunks, hashes it, and awaits the sink for backpressure. */
class PackOutput {
  /** bytes emitted so far, buffered ones included */
  offset = 0;
  /** CRC-32 of the bytes put since it was last set to 0, when tracked */
  crc = 0;
  private buf = Buffer.allocUnsafe(CHUNK);
  private fill = 0;
  private readonly hash = createHash('sha1');

  constructor(
    private readonly write: (chunk: Buffer) => Promise<void> | void,
    private readonly trackCrc: boolean,
  ) {}

  async put(data: Buffer): Promise<void> {
    if (this.trackCrc) this.crc = crc32(data, this.crc);
    for (let pos = 0; pos < data.length; ) {
      const n = Math.min(data.length - pos, CHUNK - this.fill);
      data.copy(this.buf, this.fill, pos, pos + n);
      await this.advance(n);
      pos += n;
    }
  }

  /** Copies pack bytes [start, end) straight into the output buffer. */
  async copy(pack: PackFile, start: number, end: number): Promise<void> {
    for (let pos = start; pos < end; ) {
      const n = Math.min(end - pos, CHUNK - this.fill);
      const into = this.buf.subarray(this.fill, this.fill + n);
      pack.readAt(into, pos);
      if (this.trackCrc) this.crc = crc32(into, this.crc);
      await this.advance(n);
      pos += n;
    }
  }

  async end(): Promise<Buffer> {
    await this.flush();
    const checksum = this.hash.digest();
    await this.write(checksum);
    return checksum;
  }

  private async advance(n: number): Promise<void> {
    this.fill += n;
    this.offset += n;
    if (this.fill === CHUNK) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    const chunk = this.buf.subarray(0, this.fill);
    // A fresh buffer each time: the sink may keep the chunk queued after its write resolves.
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.fill = 0;
    this.hash.update(chunk);
    await this.write(chunk);
  }
}
