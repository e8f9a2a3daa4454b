/**
 * A small pack writer for hostile pushes stock git would never make: delta chains of any depth
 * and shape, zip bombs, objects of any size and content. Written from the pack format
 * (Documentation/gitformat-pack.txt), independent of slipway's own writer.
 */
import crypto from 'node:crypto';
import { deflateSync } from 'node:zlib';

export type ObjType = 'commit' | 'tree' | 'blob' | 'tag';
const CODES: Record<ObjType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

export type Entry =
  | { kind: 'full'; type: ObjType; data: Buffer }
  /** a full object whose zlib stream was made beforehand (a bomb made once, used twice) */
  | { kind: 'deflated'; type: ObjType; size: number; zlib: Buffer }
  /** OFS_DELTA on the entry at index `base` of the same pack */
  | { kind: 'ofs'; base: number; delta: Buffer }
  | { kind: 'ref'; baseOid: string; delta: Buffer };

export function oidOf(type: ObjType, data: Buffer): string {
  return crypto.createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}

function header(code: number, size: number): Buffer {
  const bytes = [(code << 4) | (size % 16)];
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes[bytes.length - 1]! |= 0x80;
    bytes.push(rest % 128);
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

function ofsDistance(distance: number): Buffer {
  const bytes = [distance % 128];
  let rest = Math.floor(distance / 128);
  while (rest > 0) {
    rest -= 1;
    bytes.unshift(0x80 | (rest % 128));
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/**
 * A delta that copies the first `srcSize - tail.length` bytes of its base and inserts `tail`:
 * the result is as large as the base and differs from it only at the end.
 */
export function copyAllButTail(srcSize: number, tail: Buffer): Buffer {
  const ops: number[] = [...varint(srcSize), ...varint(srcSize)];
  const keep = srcSize - tail.length;
  for (let off = 0; off < keep; ) {
    const len = Math.min(0xffffff, keep - off);
    ops.push(0x80 | 0x0f | 0x70, off & 0xff, (off >>> 8) & 0xff, (off >>> 16) & 0xff, Math.floor(off / 2 ** 24) & 0xff, len & 0xff, (len >>> 8) & 0xff, (len >>> 16) & 0xff);
    off += len;
  }
  ops.push(tail.length, ...tail);
  return Buffer.from(ops);
}

/** A delta whose header declares `dstSize` bytes of result from a base of `srcSize` (its instructions need not deliver them). */
export function declaringDelta(srcSize: number, dstSize: number): Buffer {
  return Buffer.from([...varint(srcSize), ...varint(dstSize), 0x90, 0x01]); // one copy of 1 byte
}

/** A complete pack (header, entries, SHA-1 trailer). */
export function buildPack(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(entries.length, 8);
  parts.push(head);
  const offsets: number[] = [];
  let offset = 12;
  for (const e of entries) {
    offsets.push(offset);
    let entry: Buffer;
    if (e.kind === 'full') entry = Buffer.concat([header(CODES[e.type], e.data.length), deflateSync(e.data, { level: 1 })]);
    else if (e.kind === 'deflated') entry = Buffer.concat([header(CODES[e.type], e.size), e.zlib]);
    else if (e.kind === 'ofs') entry = Buffer.concat([header(6, e.delta.length), ofsDistance(offset - offsets[e.base]!), deflateSync(e.delta)]);
    else entry = Buffer.concat([header(7, e.delta.length), Buffer.from(e.baseOid, 'hex'), deflateSync(e.delta)]);
    parts.push(entry);
    offset += entry.length;
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, crypto.createHash('sha1').update(body).digest()]);
}

/** A tree object from `[mode, name, oid]` entries (sorted here as git sorts them). */
export function treeData(entries: Array<[string, string, string]>): Buffer {
  const key = ([mode, name]: [string, string, string]) => (mode.startsWith('4') ? `${name}/` : name);
  const sorted = [...entries].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return Buffer.concat(sorted.flatMap(([mode, name, oid]) => [Buffer.from(`${mode} ${name}\0`), Buffer.from(oid, 'hex')]));
}

export function commitData(tree: string, message: string | Buffer, parents: string[] = []): Buffer {
  const head = [`tree ${tree}`, ...parents.map((p) => `parent ${p}`), 'author A <a@example.com> 1700000000 +0000', 'committer A <a@example.com> 1700000000 +0000', '', ''].join('\n');
  return Buffer.concat([Buffer.from(head), Buffer.isBuffer(message) ? message : Buffer.from(message)]);
}

/** A blob of `size` zero bytes, deflated: a few hundred KB for every 100 MB. */
export function zeroBomb(size: number): { zlib: Buffer; oid: string } {
  const data = Buffer.alloc(size);
  return { zlib: deflateSync(data, { level: 9 }), oid: oidOf('blob', data) };
}
