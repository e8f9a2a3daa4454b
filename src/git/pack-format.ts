/**
 * Binary formats of pack v2 and idx v2 (Documentation/gitformat-pack.txt): entry headers,
 * delta instructions, zlib streams and the idx file. No I/O here.
 */
import { createHash } from 'node:crypto';
import { GitFormatError, type ObjectType } from './objects.ts';
import { inflateWhole } from './zlib-inflater.ts';

export const OBJ_OFS_DELTA = 6;
export const OBJ_REF_DELTA = 7;
const TYPE_CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const TYPE_NAMES: Array<ObjectType | undefined> = [undefined, 'commit', 'tree', 'blob', 'tag'];

export function typeCode(type: ObjectType): number {
  return TYPE_CODES[type];
}

/** The object type for codes 1-4; undefined for deltas and invalid codes. */
export function typeName(code: number): ObjectType | undefined {
  return TYPE_NAMES[code];
}

export const PACK_SIGNATURE = 0x5041434b; // 'PACK'
/** For objects we deflate into packs: as fast as level 1 on source text and ~10% smaller (6 is ~50% slower). */
export const DEFLATE_LEVEL = 4;
/** Enough bytes to decode any entry header: size varint (<= 10) + ofs varint (<= 10) or 20-byte oid. */
export const MAX_ENTRY_HEADER = 32;

export interface EntryHeader {
  /** 1-4 = full object, 6 = OFS_DELTA, 7 = REF_DELTA */
  code: number;
  /** inflated size: the object's size, or the delta's size for deltas */
  size: number;
  /** bytes from the entry start to its zlib stream */
  length: number;
  /** OFS_DELTA: entry offset minus base offset */
  baseDistance?: number;
  /** REF_DELTA: base oid, hex */
  baseOid?: string;
}

/** Decodes the entry header at the start of `buf`; null if buf ends before the header does. */
export function decodeEntryHeader(buf: Buffer, entryOffset: number): EntryHeader | null {
  let pos = 0;
  if (buf.length === 0) return null;
  let c = buf[pos++]!;
  const code = (c >> 4) & 7;
  let size = c & 15;
  let scale = 16;
  while (c & 0x80) {
    if (pos >= buf.length) return null;
    if (scale > 2 ** 53) throw new GitFormatError(`pack entry at offset ${entryOffset} has an oversized size field`);
    c = buf[pos++]!;
    size += (c & 0x7f) * scale;
    scale *= 128;
  }
  if (code === OBJ_OFS_DELTA) {
    if (pos >= buf.length) return null;
    c = buf[pos++]!;
    let dist = c & 0x7f;
    while (c & 0x80) {
      if (pos >= buf.length) return null;
      if (dist > 2 ** 45) throw new GitFormatError(`pack entry at offset ${entryOffset} has an oversized base offset`);
      c = buf[pos++]!;
      dist = (dist + 1) * 128 + (c & 0x7f);
    }
    if (dist === 0 || dist > entryOffset - 12) {
      throw new GitFormatError(`pack entry at offset ${entryOffset} has a delta base outside the pack`);
    }
    return { code, size, length: pos, baseDistance: dist };
  }
  if (code === OBJ_REF_DELTA) {
    if (pos + 20 > buf.length) return null;
    return { code, size, length: pos + 20, baseOid: buf.toString('hex', pos, pos + 20) };
  }
  if (typeName(code) === undefined) {
    throw new GitFormatError(`pack entry at offset ${entryOffset} has an invalid type ${code}`);
  }
  return { code, size, length: pos };
}

export function encodeEntryHeader(code: number, size: number): Buffer {
  const bytes = [(code << 4) | (size % 16)];
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes[bytes.length - 1]! |= 0x80;
    bytes.push(rest % 128);
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

/** The OFS_DELTA distance encoding: big-endian 7-bit groups, each continuation adding one. */
export function encodeOfsDistance(distance: number): Buffer {
  const bytes = [distance % 128];
  let rest = Math.floor(distance / 128);
  while (rest > 0) {
    rest -= 1;
    bytes.unshift(0x80 | (rest % 128));
    rest = Math.floor(rest / 128);
  }
  return Buffer.from(bytes);
}

export interface Inflated {
  data: Buffer;
  /** compressed bytes the stream occupied */
  consumed: number;
}

/**
 * Inflates the zlib stream at the start of `window` (which may hold trailing bytes) and checks
 * its size. Returns null when the window ends before the stream does (caller reads more).
 */
export function inflateEntry(window: Buffer, size: number, entryOffset: number): Inflated | null {
  const r = inflateWhole(window, size);
  if (r === 'truncated') return null;
  if (r === 'too-large') throw new GitFormatError(`pack entry at offset ${entryOffset} inflates to more than its declared ${size} bytes`);
  if ('corrupt' in r) throw new GitFormatError(`pack entry at offset ${entryOffset} has corrupt zlib data (${r.corrupt})`);
  if (r.data.length !== size) {
    throw new GitFormatError(`pack entry at offset ${entryOffset} inflates to ${r.data.length} bytes, header says ${size}`);
  }
  return r;
}

/** Deflate can expand incompressible data slightly; this bounds a stream of `size` bytes. */
export function maxDeflatedSize(size: number): number {
  return size + Math.ceil(size / 1000) + 1024;
}

function deltaSize(delta: Buffer, state: { pos: number }): number {
  let value = 0;
  let scale = 1;
  let c: number;
  do {
    if (state.pos >= delta.length || scale > 2 ** 49) throw new GitFormatError('delta header is truncated');
    c = delta[state.pos++]!;
    value += (c & 0x7f) * scale;
    scale *= 128;
  } while (c & 0x80);
  return value;
}

/** Applies git's copy/insert delta instructions to `base`, checking every bound and the result size. */
export function applyDelta(base: Buffer, delta: Buffer): Buffer {
  const steps = deltaSteps(base, delta, Infinity);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * `applyDelta` that pauses after every `slice` bytes written: a result of hundreds of MB is
 * written (and its fresh pages faulted in) a piece at a time, with `pause` between pieces.
 */
export async function applyDeltaSliced(base: Buffer, delta: Buffer, slice: number, pause: () => Promise<unknown>): Promise<Buffer> {
  const steps = deltaSteps(base, delta, slice);
  let r = steps.next();
  while (!r.done) {
    await pause();
    r = steps.next();
  }
  return r.value;
}

function* deltaSteps(base: Buffer, delta: Buffer, slice: number): Generator<void, Buffer> {
  const state = { pos: 0 };
  const srcSize = deltaSize(delta, state);
  if (srcSize !== base.length) {
    throw new GitFormatError(`delta expects a base of ${srcSize} bytes but the base has ${base.length}`);
  }
  const dstSize = deltaSize(delta, state);
  const out = Buffer.allocUnsafe(dstSize);
  let pos = state.pos;
  let o = 0;
  let sincePause = 0;
  while (pos < delta.length) {
    const op = delta[pos++]!;
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      if (op & 0x01) off = delta[pos++]!;
      if (op & 0x02) off |= delta[pos++]! << 8;
      if (op & 0x04) off |= delta[pos++]! << 16;
      if (op & 0x08) off += delta[pos++]! * 0x1000000;
      if (op & 0x10) len = delta[pos++]!;
      if (op & 0x20) len |= delta[pos++]! << 8;
      if (op & 0x40) len |= delta[pos++]! << 16;
      if (len === 0) len = 0x10000;
      if (pos > delta.length || off + len > base.length || o + len > dstSize) {
        throw new GitFormatError('delta copy instruction is out of bounds');
      }
      while (len > 0) {
        const piece = Math.min(len, slice - sincePause);
        base.copy(out, o, off, off + piece);
        o += piece;
        off += piece;
        len -= piece;
        sincePause += piece;
        if (sincePause >= slice) {
          yield;
          sincePause = 0;
        }
      }
    } else if (op !== 0) {
      if (pos + op > delta.length || o + op > dstSize) throw new GitFormatError('delta insert instruction is out of bounds');
      delta.copy(out, o, pos, pos + op);
      pos += op;
      o += op;
    } else {
      throw new GitFormatError('delta has a reserved zero instruction');
    }
  }
  if (o !== dstSize) throw new GitFormatError(`delta produced ${o} bytes, header says ${dstSize}`);
  return out;
}

const IDX_MAGIC = 0xff744f63; // '\377tOc'
const IDX_HEADER = 8 + 256 * 4;

/**
 * Where an idx v2 file's sections start, from its first IDX_HEADER bytes (`head`) and its size;
 * a file that is not one, or is cut short, is refused by name.
 */
function idxSections(head: Buffer, fileSize: number, name: string): { count: number; crcsAt: number; offsetsAt: number; largeAt: number } {
  if (fileSize < IDX_HEADER + 40 || head.readUInt32BE(0) !== IDX_MAGIC || head.readUInt32BE(4) !== 2) {
    throw new GitFormatError(`${name} is not a version 2 pack index`);
  }
  const count = head.readUInt32BE(IDX_HEADER - 4);
  const crcsAt = IDX_HEADER + 20 * count;
  const offsetsAt = crcsAt + 4 * count;
  const largeAt = offsetsAt + 4 * count;
  if (fileSize < largeAt + 40) throw new GitFormatError(`${name} is truncated`);
  return { count, crcsAt, offsetsAt, largeAt };
}

/** A parsed idx v2 file held in memory: fanout lookup plus binary search over sorted oids. */
export class PackIndex {
  readonly count: number;
  private readonly oidsAt: number;
  private readonly crcsAt: number;
  private readonly offsetsAt: number;
  private readonly largeAt: number;
  private prefixes: Uint32Array | undefined;
  private prefixBits = 8;

  constructor(private readonly buf: Buffer, name: string) {
    ({ count: this.count, crcsAt: this.crcsAt, offsetsAt: this.offsetsAt, largeAt: this.largeAt } = idxSections(buf, buf.length, name));
    this.oidsAt = IDX_HEADER;
  }

  /** The pack's trailing checksum as recorded in the idx. */
  get packChecksum(): Buffer {
    return this.buf.subarray(this.buf.length - 40, this.buf.length - 20);
  }

  /** Position of `oid` (20 raw bytes) in sorted order, or -1. */
  find(oid: Buffer): number {
    return this.findAt(oid, 0);
  }

  /**
   * Position of the oid at bytes [at, at + 20) of `src` in sorted order, or -1. Compares bytes in
   * place: walks over whole histories look up millions of tree entries, and a Buffer.compare
   * call per step of the binary search cost more than the search itself.
   */
  findAt(src: Uint8Array, at: number): number {
    const buf = this.buf;
    const table = this.prefixes ?? this.prefixTable();
    const prefix = ((src[at]! << 16) | (src[at + 1]! << 8) | src[at + 2]!) >>> (24 - this.prefixBits);
    let lo = table[prefix]!;
    let hi = table[prefix + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let p = this.oidsAt + mid * 20;
      let k = at;
      const end = at + 20;
      while (k < end && buf[p] === src[k]) {
        p++;
        k++;
      }
      if (k === end) return mid;
      if (buf[p]! < src[k]!) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /**
   * A finer fanout, made on the first lookup: where the oids starting with each prefix of
   * `prefixBits` bits begin (about two oids per prefix, 4 bytes per object), so that a lookup
   * reads a few oids near each other instead of a binary search's dozen spread over the idx.
   */
  private prefixTable(): Uint32Array {
    const n = this.count;
    const bits = Math.max(8, Math.min(24, Math.ceil(Math.log2(Math.max(n, 1))) - 1));
    const table = new Uint32Array((1 << bits) + 1);
    const buf = this.buf;
    let pos = 0;
    for (let prefix = 0; prefix < 1 << bits; prefix++) {
      while (pos < n) {
        const o = this.oidsAt + pos * 20;
        if (((buf[o]! << 16) | (buf[o + 1]! << 8) | buf[o + 2]!) >>> (24 - bits) >= prefix) break;
        pos++;
      }
      table[prefix] = pos;
    }
    table[1 << bits] = n;
    this.prefixBits = bits;
    this.prefixes = table;
    return table;
  }

  oidAt(pos: number): string {
    return this.buf.toString('hex', this.oidsAt + pos * 20, this.oidsAt + pos * 20 + 20);
  }

  crcAt(pos: number): number {
    return this.buf.readUInt32BE(this.crcsAt + pos * 4);
  }

  offsetAt(pos: number): number {
    const v = this.buf.readUInt32BE(this.offsetsAt + pos * 4);
    if (v < 0x80000000) return v;
    const at = this.largeAt + (v & 0x7fffffff) * 8;
    return this.buf.readUInt32BE(at) * 2 ** 32 + this.buf.readUInt32BE(at + 4);
  }
}

/**
 * An idx v2 file looked up where it lies, a few bytes at a time through `read` (which fills a
 * buffer from a file position): the fanout is held (1 KiB), each lookup is a binary search of
 * 20-byte reads. For the few lookups most uses of a pack make (a push's tips, a deploy's commit
 * and tree) instead of holding the whole idx: 28 bytes an object, 5 MiB for 181,000 objects.
 */
export class IdxProbe {
  readonly count: number;
  /** the pack's trailing checksum as recorded in the idx */
  readonly packChecksum: Buffer;
  private readonly fanout: Uint32Array;
  private readonly offsetsAt: number;
  private readonly largeAt: number;
  private readonly largeCount: number;
  private readonly oid = Buffer.allocUnsafe(20);
  private readonly word = Buffer.allocUnsafe(8);

  constructor(private readonly read: (buf: Buffer, position: number) => void, fileSize: number, name: string) {
    const head = Buffer.alloc(IDX_HEADER);
    if (fileSize >= IDX_HEADER) read(head, 0);
    ({ count: this.count, offsetsAt: this.offsetsAt, largeAt: this.largeAt } = idxSections(head, fileSize, name));
    this.fanout = new Uint32Array(256);
    for (let b = 0; b < 256; b++) this.fanout[b] = head.readUInt32BE(8 + 4 * b);
    this.largeCount = Math.floor((fileSize - 40 - this.largeAt) / 8);
    this.packChecksum = Buffer.alloc(20);
    read(this.packChecksum, fileSize - 40);
  }

  /** The pack offset of the oid at bytes [at, at + 20) of `src`, or -1. */
  offsetOf(src: Uint8Array, at: number): number {
    const first = src[at]!;
    let lo = first === 0 ? 0 : this.fanout[first - 1]!;
    let hi = this.fanout[first]!;
    const oid = this.oid;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      this.read(oid, IDX_HEADER + mid * 20);
      let k = 0;
      while (k < 20 && oid[k] === src[at + k]) k++;
      if (k === 20) return this.offsetAt(mid);
      if (oid[k]! < src[at + k]!) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  private offsetAt(pos: number): number {
    const word = this.word;
    this.read(word.subarray(0, 4), this.offsetsAt + pos * 4);
    const v = word.readUInt32BE(0);
    if (v < 0x80000000) return v;
    const large = v & 0x7fffffff;
    if (large >= this.largeCount) throw new GitFormatError(`pack index entry ${pos} names a large offset the index does not have`);
    this.read(word, this.largeAt + large * 8);
    return word.readUInt32BE(0) * 2 ** 32 + word.readUInt32BE(4);
  }
}

/** The objects of a pack in oid order, as an idx is built from them (read once each, in order). */
export interface IdxEntries {
  count: number;
  /** writes the k-th object's 20-byte id into `out` at `at` (ascending in k) */
  copyOid(k: number, out: Buffer, at: number): void;
  crc(k: number): number;
  offset(k: number): number;
}

/** Builds an idx v2 file for entries sorted by oid; the idx checksum closes it. */
export function encodeIdx(entries: IdxEntries, packChecksum: Buffer): Buffer {
  const parts: Buffer[] = [];
  emitIdx(entries, packChecksum, (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

/**
 * The idx v2 file of `entries` (sorted by oid), handed to `emit` a piece at a time: a pushed
 * pack's idx is 28 bytes an object, and need not be held whole. The pieces are views of one
 * buffer, valid until `emit` returns.
 */
export function emitIdx(entries: IdxEntries, packChecksum: Buffer, emit: (piece: Buffer) => void): void {
  const n = entries.count;
  const hash = createHash('sha1');
  const piece = Buffer.allocUnsafe(64 << 10);
  let used = 0;
  const flush = () => {
    hash.update(piece.subarray(0, used));
    emit(piece.subarray(0, used));
    used = 0;
  };
  const room = (bytes: number) => {
    if (used + bytes > piece.length) flush();
    return (used += bytes) - bytes;
  };
  const fanout = new Uint32Array(256);
  const id = Buffer.allocUnsafe(20);
  let large = 0;
  for (let k = 0; k < n; k++) {
    entries.copyOid(k, id, 0);
    fanout[id[0]!]!++;
    if (entries.offset(k) >= 0x80000000) large++;
  }
  piece.writeUInt32BE(IDX_MAGIC, room(4));
  piece.writeUInt32BE(2, room(4));
  for (let b = 0, total = 0; b < 256; b++) piece.writeUInt32BE((total += fanout[b]!), room(4));
  for (let k = 0; k < n; k++) entries.copyOid(k, piece, room(20));
  for (let k = 0; k < n; k++) piece.writeUInt32BE(entries.crc(k), room(4));
  for (let k = 0, nextLarge = 0; k < n; k++) {
    const offset = entries.offset(k);
    piece.writeUInt32BE(offset < 0x80000000 ? offset : (0x80000000 | nextLarge++) >>> 0, room(4));
  }
  if (large > 0) {
    for (let k = 0; k < n; k++) {
      const offset = entries.offset(k);
      if (offset < 0x80000000) continue;
      piece.writeUInt32BE(Math.floor(offset / 2 ** 32), room(4));
      piece.writeUInt32BE(offset % 2 ** 32, room(4));
    }
  }
  packChecksum.copy(piece, room(20));
  flush();
  emit(hash.digest());
}
