/** One stored pack: its idx, probed in place and then held once much used, and its .pack read through one fd with positional reads. */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { ByteLru } from './byte-lru.ts';
import { GitFormatError } from './objects.ts';
import {
  IdxProbe,
  MAX_ENTRY_HEADER,
  PACK_SIGNATURE,
  PackIndex,
  maxDeflatedSize,
  decodeEntryHeader,
  inflateEntry,
  type EntryHeader,
} from './pack-format.ts';

/** Small reads are served from cached blocks of this size: one syscall serves many nearby objects. */
const BLOCK = 64 << 10;
/**
 * Lookups made through the idx file (a binary search of small reads, ~15 us) before the idx is
 * read whole: a push's checks and deploys make a few hundred, a clone or walk hundreds of thousands.
 */
const PROBED_LOOKUPS = 2048;
/**
 * Until the idx is read whole there is no offset order to say where an entry ends: entries up to
 * this size are read in a window their header bounds (a zlib stream ends by itself).
 */
const WINDOWED_ENTRY = 256 << 10;
/** Cached blocks per pack, in bytes. */
const BLOCK_CACHE = 8 << 20;

/** Entries sorted by offset, to find where an entry's data ends and which oid sits at an offset. */
interface OffsetOrder {
  offsets: Float64Array;
  positions: Uint32Array;
}

/** Reads from all packs of this process: what `--cpu-prof` cannot show (how much is read, how often). */
export const packReads = { calls: 0, bytes: 0 };

/**
 * Packs open in this process by file identity (device and inode of the .pack, which an open fd
 * keeps from reuse), with how many stores use each: every store reading one pack shares its
 * idx, offset order and block cache (a push's checks, its deploys and a clone running beside it
 * each held a copy), and a pack renamed from a push's quarantine into the repo is the same file.
 */
const shared = new Map<string, { pack: PackFile; users: number }>();

/** The pack of `idxPath`, shared with the other stores that have it open; `releasePack` when done. */
export function openPack(idxPath: string): PackFile {
  const st = statSync(idxPath.replace(/\.idx$/, '.pack'));
  const key = `${st.dev}:${st.ino}`;
  const open = shared.get(key);
  if (open) {
    open.users++;
    return open.pack;
  }
  const pack = new PackFile(idxPath);
  shared.set(key, { pack, users: 1 });
  pack.sharedAs = key;
  return pack;
}

export function releasePack(pack: PackFile): void {
  const open = pack.sharedAs === undefined ? undefined : shared.get(pack.sharedAs);
  if (!open || open.pack !== pack) return pack.close();
  if (--open.users > 0) return;
  shared.delete(pack.sharedAs!);
  pack.close();
}

export class PackFile {
  /** its key among the shared packs (see openPack) */
  sharedAs: string | undefined;
  readonly size: number;
  private readonly fd: number;
  /** the idx file, until it is read whole */
  private idxFd: number | undefined;
  private probe: IdxProbe | undefined;
  private probes = 0;
  private whole: PackIndex | undefined;
  private order: OffsetOrder | undefined;
  /** Entries are small and often near each other: blocks read once serve many. */
  private readonly blocks = new ByteLru<number, Buffer>(BLOCK_CACHE, (b) => b.length, BLOCK);
  private lastBlockNo = -1;
  private lastBlock: Buffer | undefined;

  constructor(readonly idxPath: string) {
    const idxFd = openSync(idxPath, 'r');
    const packPath = idxPath.replace(/\.idx$/, '.pack');
    let fd: number | undefined;
    try {
      const probe = new IdxProbe((buf, position) => readFully(idxFd, buf, position, idxPath), fstatSync(idxFd).size, idxPath);
      fd = openSync(packPath, 'r');
      this.size = fstatSync(fd).size;
      if (this.size < 32) throw new GitFormatError(`${packPath} is truncated`);
      const head = Buffer.alloc(12);
      const tail = Buffer.alloc(20);
      readFully(fd, head, 0, packPath);
      readFully(fd, tail, this.size - 20, packPath);
      if (head.readUInt32BE(0) !== PACK_SIGNATURE || head.readUInt32BE(8) !== probe.count) {
        throw new GitFormatError(`${packPath} does not match its index`);
      }
      if (!tail.equals(probe.packChecksum)) throw new GitFormatError(`${packPath} checksum does not match its index`);
      this.probe = probe;
    } catch (err) {
      closeSync(idxFd);
      if (fd !== undefined) closeSync(fd);
      throw err;
    }
    this.fd = fd;
    this.idxFd = idxFd;
  }

  /** The whole idx, read on first use (and then kept: whoever needs it makes many lookups). */
  get index(): PackIndex {
    if (!this.whole) {
      const fd = this.idxFd!;
      const buf = Buffer.allocUnsafe(fstatSync(fd).size);
      readFully(fd, buf, 0, this.idxPath);
      this.whole = new PackIndex(buf, this.idxPath);
      closeSync(fd);
      this.idxFd = undefined;
      this.probe = undefined;
    }
    return this.whole;
  }

  /** The pack offset of the object whose id is at bytes [at, at + 20) of `src`, or -1. */
  offsetOf(src: Uint8Array, at: number): number {
    if (this.probe && ++this.probes <= PROBED_LOOKUPS) return this.probe.offsetOf(src, at);
    const index = this.index;
    const pos = index.findAt(src, at);
    return pos < 0 ? -1 : index.offsetAt(pos);
  }

  /** Fills `buf` from the pack at `position`; reads smaller than a block go through the block cache. */
  readAt(buf: Buffer, position: number): void {
    if (position + buf.length > this.size) throw new GitFormatError(`${this.idxPath}: pack ends before offset ${position + buf.length}`);
    const first = Math.floor(position / BLOCK);
    const last = Math.floor((position + buf.length - 1) / BLOCK);
    // A read of a block or more gains nothing from the cache, and would flush it.
    if (buf.length === 0 || buf.length >= BLOCK || last - first > 1) return this.readDirect(buf, position);
    for (let b = first, done = 0; b <= last; b++) {
      const block = this.block(b);
      const from = position + done - b * BLOCK;
      done += block.copy(buf, done, from, Math.min(block.length, from + buf.length - done));
    }
  }

  /**
   * Pack bytes [position, position + length) without a copy when they lie in one cached block
   * (the view shares the cache's memory: never modify it); a fresh buffer otherwise.
   */
  bytesAt(position: number, length: number): Buffer {
    const b = Math.floor(position / BLOCK);
    if (length > 0 && position + length <= this.size && Math.floor((position + length - 1) / BLOCK) === b) {
      const from = position - b * BLOCK;
      return this.block(b).subarray(from, from + length);
    }
    const buf = Buffer.allocUnsafe(length);
    this.readAt(buf, position);
    return buf;
  }

  /** Block `b`, read if not cached; the last one used is kept at hand (reads come in runs). */
  private block(b: number): Buffer {
    if (b === this.lastBlockNo) return this.lastBlock!;
    let block = this.blocks.get(b);
    if (!block) {
      block = Buffer.allocUnsafe(Math.min(BLOCK, this.size - b * BLOCK));
      this.readDirect(block, b * BLOCK);
      this.blocks.set(b, block);
    }
    this.lastBlockNo = b;
    this.lastBlock = block;
    return block;
  }

  private readDirect(buf: Buffer, position: number): void {
    packReads.calls++;
    packReads.bytes += buf.length;
    readFully(this.fd, buf, position, `${this.idxPath}: pack`);
  }

  /** The entry header at `offset`. */
  header(offset: number): EntryHeader {
    if (offset < 12 || offset >= this.size - 20) throw new GitFormatError(`${this.idxPath}: no entry can start at offset ${offset}`);
    return this.decodeHeader(this.bytesAt(offset, Math.min(MAX_ENTRY_HEADER, this.size - 20 - offset)), offset);
  }

  /**
   * The header and compressed data of the entry at `offset`, read as one piece (maybe a view of
   * the cache: never modify it). The data is exactly the entry's once the idx is held whole, and
   * may run on past the entry before (see WINDOWED_ENTRY): for inflating, not for copying.
   */
  entry(offset: number): { h: EntryHeader; raw: Buffer } {
    if (offset < 12 || offset >= this.size - 20) throw new GitFormatError(`${this.idxPath}: no entry can start at offset ${offset}`);
    if (this.whole) {
      const buf = this.bytesAt(offset, this.entryEnd(offset) - offset);
      const h = this.decodeHeader(buf, offset);
      return { h, raw: buf.subarray(h.length) };
    }
    const h = this.header(offset);
    const end = h.size <= WINDOWED_ENTRY ? Math.min(this.size - 20, offset + h.length + maxDeflatedSize(h.size)) : this.entryEnd(offset);
    return { h, raw: this.bytesAt(offset + h.length, end - offset - h.length) };
  }

  /** Inflates the data `entry` returned. */
  inflateRaw(offset: number, h: EntryHeader, raw: Buffer): Buffer {
    const inflated = inflateEntry(raw, h.size, offset);
    if (!inflated) throw new GitFormatError(`${this.idxPath}: entry at offset ${offset} is truncated`);
    return inflated.data;
  }

  private decodeHeader(buf: Buffer, offset: number): EntryHeader {
    const h = decodeEntryHeader(buf, offset);
    if (!h) throw new GitFormatError(`${this.idxPath}: truncated entry header at offset ${offset}`);
    return h;
  }

  /** Offset just past the entry at `offset`: the next entry's start, or the trailing checksum. */
  entryEnd(offset: number): number {
    const { offsets } = this.offsetOrder();
    const i = upperBound(offsets, offset);
    return i < offsets.length ? offsets[i]! : this.size - 20;
  }

  /** The oid stored at `offset`, or undefined if no entry starts there. */
  oidAtOffset(offset: number): string | undefined {
    const { offsets, positions } = this.offsetOrder();
    const i = upperBound(offsets, offset) - 1;
    return i >= 0 && offsets[i] === offset ? this.index.oidAt(positions[i]!) : undefined;
  }

  close(): void {
    closeSync(this.fd);
    if (this.idxFd !== undefined) closeSync(this.idxFd);
    this.idxFd = undefined;
  }

  private offsetOrder(): OffsetOrder {
    if (!this.order) {
      const n = this.index.count;
      const offsets = new Float64Array(n);
      const positions = new Uint32Array(n);
      if (n < 2 ** 21 && this.size < 2 ** 32) {
        // offset and position in one exact double: a native numeric sort, no comparator calls.
        const keyed = new Float64Array(n);
        for (let i = 0; i < n; i++) keyed[i] = this.index.offsetAt(i) * 2 ** 21 + i;
        keyed.sort();
        for (let k = 0; k < n; k++) {
          const pos = keyed[k]! % 2 ** 21;
          positions[k] = pos;
          offsets[k] = (keyed[k]! - pos) / 2 ** 21;
        }
      } else {
        const byPos = new Float64Array(n);
        for (let i = 0; i < n; i++) byPos[i] = this.index.offsetAt(i);
        for (let i = 0; i < n; i++) positions[i] = i;
        positions.sort((a, b) => byPos[a]! - byPos[b]!);
        for (let i = 0; i < n; i++) offsets[i] = byPos[positions[i]!]!;
      }
      this.order = { offsets, positions };
    }
    return this.order;
  }
}

/** Fills `buf` from `fd` at `position`; a file that ends first is malformed. */
function readFully(fd: number, buf: Buffer, position: number, name: string): void {
  for (let done = 0; done < buf.length; ) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new GitFormatError(`${name} ends before offset ${position + buf.length}`);
    done += n;
  }
}

/** Index of the first element greater than `value` in an ascending array. */
function upperBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
