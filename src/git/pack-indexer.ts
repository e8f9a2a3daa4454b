/**
 * `git index-pack` for a received pack file: checks it, resolves every delta, completes thin
 * packs with their missing bases, and writes pack-<sha>.pack/.idx. Streams the pack from disk;
 * memory holds per-entry facts, plus only the delta chain being resolved.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { fsync, promises as fsPromises } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, createInflate, deflateSync } from 'node:zlib';
import { GitFormatError, objectHeader } from './objects.ts';
import type { ObjectStore } from './object-store.ts';
import {
  DEFLATE_LEVEL,
  MAX_ENTRY_HEADER,
  PACK_SIGNATURE,
  applyDelta,
  applyDeltaSliced,
  decodeEntryHeader,
  encodeEntryHeader,
  encodeIdx,
  inflateEntry,
  maxDeflatedSize,
  typeCode,
  typeName,
  type Inflated,
} from './pack-format.ts';
import { OidTable } from './oid-table.ts';
import type { PackObjectCheck } from './pack-check.ts';
import { LimitError, PackBudget, deltaResultSize, type PushLimits } from './push-limits.ts';

/** A pack the pusher sent is unusable; the message is meant for them. */
export class PackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}

export interface IndexPackOptions {
  /** finds REF_DELTA bases the pack lacks (thin packs) */
  store: ObjectStore;
  /** an objects/pack dir; pack-<sha>.pack and .idx are written there */
  destDir: string;
  onProgress?: (phase: 'indexing' | 'resolving', done: number, total: number) => void;
  /**
   * The pack is still arriving into the file: the indexer asks for bytes as it parses, so it
   * knows where the pack ends (header count, entries, trailer) without waiting for end of input.
   */
  source?: PackSource;
  /** Bounds of a pushed pack, checked from headers before anything is inflated; none for our own packs. */
  limits?: PushLimits;
  /** sees every object of the pack as it is resolved, then its links once all are (a pushed pack) */
  check?: PackObjectCheck;
}

/** A pack file that is still being written. */
export interface PackSource {
  /** Waits until the file holds `end` bytes or input ended; returns how many bytes the file holds. */
  need(end: number): Promise<number>;
  /** true once no more bytes will come */
  readonly ended: boolean;
}

/** A complete pack file. */
class CompleteFile implements PackSource {
  readonly ended = true;
  constructor(private readonly size: number) {}
  async need(): Promise<number> {
    return this.size;
  }
}

export interface IndexPackResult {
  packFile: string;
  idxFile: string;
  objectCount: number;
  appendedBases: number;
  /** every object in the final pack, sorted, 20 bytes each (see `oidsOf`) */
  sortedOids: Buffer;
}

/** The objects of an indexed pack as hex ids, sorted. */
export function oidsOf(result: IndexPackResult): string[] {
  const out: string[] = [];
  for (let p = 0; p < result.sortedOids.length; p += 20) out.push(result.sortedOids.toString('hex', p, p + 20));
  return out;
}

const READ_CHUNK = 4 << 20;
/** Full objects larger than this are inflated piecewise in phase 1 (linear in their size while they arrive). */
const STREAM_ABOVE = 1 << 20;
const STREAM_CHUNK = 1 << 20;
const YIELD_EVERY = 256;
/** Larger objects are hashed and inflated in slices, yielding between, so other sessions are served meanwhile. */
const SLICE = 4 << 20;
/** Resolved delta bases kept while resolving, when the push sets no bound. */
const DEFAULT_HOLD = 256 << 20;

/**
 * Indexes the pack at `packPath` into `destDir`. The caller keeps and removes `packPath`: its
 * bytes are never changed (the final pack may be a hard link to it, made read-only). On error
 * nothing is left in `destDir`.
 */
export async function indexPack(packPath: string, opts: IndexPackOptions): Promise<IndexPackResult> {
  const fd = openSync(packPath, 'r');
  try {
    const source = opts.source ?? new CompleteFile(fstatSync(fd).size);
    const pack = new ReceivedPack(fd, await readCount(fd, source), source, opts);
    const trailer = await pack.parse();
    if (pack.count === 0) return { packFile: '', idxFile: '', objectCount: 0, appendedBases: 0, sortedOids: Buffer.alloc(0) };
    await pack.resolve();
    opts.check?.verifyLinks((key) => pack.typeOf(key), (oid) => opts.store.has(oid));
    return await writeOutput(packPath, fd, pack, trailer, opts);
  } catch (err) {
    if (err instanceof GitFormatError || err instanceof LimitError) throw new PackError(err.message);
    throw err;
  } finally {
    closeSync(fd);
  }
}

/** Per-entry facts, in pack order (appended thin-pack bases last), in typed arrays. */
class EntryTable {
  count = 0;
  offset: Float64Array;
  dataStart: Float64Array;
  end: Float64Array;
  size: Float64Array;
  /** resolved object type code 1-4; 0 while unresolved */
  objType: Uint8Array;
  crc: Uint32Array;
  /** entry index of an OFS_DELTA's base; -1 for other entries */
  base: Int32Array;
  /** index of the entry's oid in the pack's OidTable, once resolved */
  key: Int32Array;
  /** REF_DELTA base oids, by entry index */
  refBase = new Map<number, string>();

  constructor(capacity: number) {
    this.offset = new Float64Array(capacity);
    this.dataStart = new Float64Array(capacity);
    this.end = new Float64Array(capacity);
    this.size = new Float64Array(capacity);
    this.objType = new Uint8Array(capacity);
    this.crc = new Uint32Array(capacity);
    this.base = new Int32Array(capacity).fill(-1);
    this.key = new Int32Array(capacity).fill(-1);
  }

  add(): number {
    if (this.count === this.crc.length) this.grow();
    return this.count++;
  }

  private grow(): void {
    const cap = Math.max(16, this.crc.length * 2);
    const widen = <T extends Float64Array | Uint8Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a as never);
      return b;
    };
    this.offset = widen(this.offset, (n) => new Float64Array(n));
    this.dataStart = widen(this.dataStart, (n) => new Float64Array(n));
    this.end = widen(this.end, (n) => new Float64Array(n));
    this.size = widen(this.size, (n) => new Float64Array(n));
    this.objType = widen(this.objType, (n) => new Uint8Array(n));
    this.crc = widen(this.crc, (n) => new Uint32Array(n));
    this.base = widen(this.base, (n) => new Int32Array(n).fill(-1));
    this.key = widen(this.key, (n) => new Int32Array(n).fill(-1));
  }

  /** Entry index starting exactly at `offset` (entries are in offset order), or -1. */
  atOffset(offset: number, below: number): number {
    let lo = 0;
    let hi = below;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offset[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < below && this.offset[lo] === offset ? lo : -1;
  }
}

/** Sequential reads through a reusable buffer; views are valid until the next call. */
class PackReader {
  private readonly standard = Buffer.allocUnsafe(READ_CHUNK);
  private buf = this.standard;
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly fd: number,
    /** bytes of the file that may be read (grows while the pack arrives) */
    public limit: number,
  ) {}

  view(pos: number, len: number): Buffer {
    const end = Math.min(pos + len, this.limit);
    if (pos >= this.bufStart && end <= this.bufStart + this.bufLen) {
      return this.buf.subarray(pos - this.bufStart, end - this.bufStart);
    }
    // Huge objects get a one-off buffer so the standard one stays small.
    this.buf = end - pos > this.standard.length ? Buffer.allocUnsafe(end - pos) : this.standard;
    this.bufStart = pos;
    this.bufLen = readFully(this.fd, this.buf.subarray(0, Math.min(this.buf.length, this.limit - pos)), pos);
    return this.buf.subarray(0, end - pos);
  }
}

/** Checks the 12-byte pack header and returns its object count. */
async function readCount(fd: number, source: PackSource): Promise<number> {
  const head = Buffer.alloc(12);
  let avail = await source.need(12);
  while (avail < 12 && !source.ended) avail = await source.need(12);
  if (avail < 12 || readFully(fd, head, 0) < 12) throw new PackError('pack is truncated: it has no complete header');
  if (head.readUInt32BE(0) !== PACK_SIGNATURE) throw new PackError('pack header is not a git pack (bad signature)');
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new PackError(`pack version ${version} is not supported`);
  return head.readUInt32BE(8);
}

class ReceivedPack {
  readonly t: EntryTable;
  /** the pack's length, trailer included: known once parsed */
  size = 0;
  /** the objects' ids, each with its entry index as value: for REF_DELTA bases, duplicates and the idx */
  readonly oids = new OidTable();
  private deltasTotal = 0;
  private deltasDone = 0;
  /** phase 2: OFS_DELTAs by base entry, `ofsKids[ofsStart[b]..ofsStart[b+1])` (each base's taken once) */
  private ofsStart = new Int32Array(0);
  private ofsKids = new Int32Array(0);
  private ofsTaken = new Uint8Array(0);
  /** phase 2: REF_DELTAs waiting on their base oid */
  private readonly refKids = new Map<string, number[]>();
  /** appended thin-pack bases, by entry index */
  readonly external = new Set<number>();
  /** compressed bytes read back in phase 2, a block at a time: one pread per entry was a third of the time */
  private readonly blocks: BlockCache;
  private readonly budget: PackBudget | null;
  /** bytes of resolved bases the delta resolution may hold at once (beyond the one being applied) */
  private readonly hold: number;

  constructor(
    private readonly fd: number,
    /** objects in the received pack, as its header says */
    readonly count: number,
    private readonly source: PackSource,
    private readonly opts: IndexPackOptions,
  ) {
    // A lying header count must not size the allocation: the table grows as entries come.
    this.t = new EntryTable(Math.min(count, 1 << 16));
    this.budget = opts.limits ? new PackBudget(opts.limits) : null;
    this.hold = opts.limits?.maxObjectBytes ?? DEFAULT_HOLD;
    this.blocks = new BlockCache(fd);
  }

  /** Waits for `end` bytes of the pack (fewer at the end of input); returns how many the file holds. */
  /** bytes of the pack that have arrived */
  private avail = 0;

  private async need(reader: PackReader, end: number): Promise<number> {
    const avail = (this.avail = await this.source.need(end));
    // Once input has ended, its last 20 bytes are the trailer: no entry reaches into them.
    reader.limit = this.source.ended ? Math.max(12, avail - 20) : avail;
    return avail;
  }

  /** Phase 1: walk every entry in order; check sizes, CRCs and the pack checksum; hash full objects. */
  async parse(): Promise<Buffer> {
    const { t, count } = this;
    const reader = new PackReader(this.fd, 12);
    const packHash = createHash('sha1').update(reader.view(0, 12));
    let pos = 12;
    for (let n = 0; n < count; n++) {
      if (n % YIELD_EVERY === 0 && n > 0) {
        this.opts.onProgress?.('indexing', n, count);
        await yieldToLoop();
      }
      const truncated = () => new PackError(`pack is truncated: expected ${count} objects, got ${n}`);
      let h = decodeEntryHeader(reader.view(pos, MAX_ENTRY_HEADER), pos);
      while (!h) {
        const before = reader.limit;
        // Only ask for one byte more: near the pack's end no more may come until we answer.
        await this.need(reader, this.avail + 1);
        if (reader.limit === before && this.source.ended) throw truncated();
        h = decodeEntryHeader(reader.view(pos, MAX_ENTRY_HEADER), pos);
      }
      const isDelta = h.baseDistance !== undefined || h.baseOid !== undefined;
      // Sizes come from headers: a bomb is refused before a byte of it is inflated.
      if (isDelta) this.budget?.delta(h.size, `delta at offset ${pos}`);
      else this.budget?.object(h.size, `${typeName(h.code)} at offset ${pos}`);
      const i = t.add();
      t.offset[i] = pos;
      t.dataStart[i] = pos + h.length;
      t.size[i] = h.size;
      let length: number;
      if (!isDelta && h.size > STREAM_ABOVE) {
        // Large objects are hashed as they inflate, never held whole.
        const objHash = createHash('sha1').update(objectHeader(typeName(h.code)!, h.size));
        const consumed = await inflateStreaming(this.fd, pos + h.length, (end) => this.need(reader, end), h.size, pos, (c) => objHash.update(c));
        if (consumed === null) throw truncated();
        length = h.length + consumed;
        t.crc[i] = this.hashRaw(pos, length, packHash);
        this.record(i, h.code, objHash.digest());
        if (h.code !== 3) this.opts.check?.unchecked();
      } else {
        // Try with what has arrived, then with more (a deflate stream is rarely longer than `window`).
        let window = h.length + maxDeflatedSize(h.size);
        let view: Buffer;
        let inflated: Inflated | null;
        for (;;) {
          view = reader.view(pos, window);
          inflated = inflateEntry(view.subarray(h.length), h.size, pos);
          if (inflated) break;
          if (view.length >= window) {
            window *= 2; // a longer stream than deflate makes: look further in what is there
            continue;
          }
          const before = reader.limit;
          await this.need(reader, this.avail + 1);
          if (reader.limit === before && this.source.ended) throw truncated();
        }
        const raw = view.subarray(0, h.length + inflated.consumed);
        packHash.update(raw);
        t.crc[i] = crc32(raw);
        length = raw.length;
        if (!isDelta) this.resolved(i, h.code, inflated.data);
        else if (this.budget) {
          const result = deltaResultSize(inflated.data);
          if (result === null) throw new PackError(`delta at offset ${pos} has a truncated header`);
          this.budget.object(result, `delta at offset ${pos}`);
        }
      }
      t.end[i] = pos + length;
      if (h.baseDistance !== undefined) {
        t.base[i] = t.atOffset(pos - h.baseDistance, i);
        if (t.base[i]! < 0) throw new PackError(`delta at offset ${pos} refers to an offset where no object starts`);
        this.deltasTotal++;
      } else if (h.baseOid !== undefined) {
        t.refBase.set(i, h.baseOid); // its base may come later in the pack, or from the store
        this.deltasTotal++;
      }
      pos += length;
    }
    let avail = await this.need(reader, pos + 20);
    while (avail < pos + 20 && !this.source.ended) avail = await this.need(reader, pos + 20);
    if (avail < pos + 20) throw new PackError('pack is truncated: it ends before its checksum');
    if (avail > pos + 20) {
      throw new PackError(`pack has ${avail - pos - 20} bytes of unexpected data after its ${count} objects`);
    }
    this.size = pos + 20;
    const trailer = Buffer.alloc(20);
    readFully(this.fd, trailer, pos);
    if (!packHash.digest().equals(trailer)) throw new PackError('pack checksum mismatch');
    this.opts.onProgress?.('indexing', count, count);
    return trailer;
  }

  /** Feeds the raw entry at [pos, pos+length) to the pack checksum, reading it back; returns its CRC32. */
  private hashRaw(pos: number, length: number, packHash: Hash): number {
    let crc = 0;
    const chunk = Buffer.allocUnsafe(Math.min(length, STREAM_CHUNK));
    for (let p = pos; p < pos + length; ) {
      const piece = chunk.subarray(0, Math.min(chunk.length, pos + length - p));
      readFully(this.fd, piece, p);
      packHash.update(piece);
      crc = crc32(piece, crc);
      p += piece.length;
    }
    return crc;
  }

  /** Hashes `data` as an object of type `code` and records it as entry `i`. */
  private resolved(i: number, code: number, data: Buffer): void {
    this.record(i, code, createHash('sha1').update(objectHeader(typeName(code)!, data.length)).update(data).digest());
    if (!this.external.has(i)) this.opts.check?.object(code, data);
  }

  /** The type code of the object with the id at `key[0..20)`, 0 when the pack lacks it. */
  typeOf(key: Buffer): number {
    const k = this.oids.find(key, 0);
    return k < 0 ? 0 : this.t.objType[this.oids.values[k]!]!;
  }

  /** Entry index of the object `oid`, or -1. */
  private entryOf(oid: string): number {
    const k = this.oids.findHex(oid);
    return k < 0 ? -1 : this.oids.values[k]!;
  }

  oidHex(i: number): string {
    return this.oids.hex(this.t.key[i]!);
  }

  private record(i: number, code: number, oid: Buffer): void {
    const before = this.oids.size;
    const k = this.oids.insert(oid, 0);
    // A thin base appended before the pack turned out to contain it after all is dropped.
    if (this.oids.size === before && !this.external.delete(this.oids.values[k]!)) throw new PackError(`object ${oid.toString('hex')} appears twice in the pack`);
    this.oids.values[k] = i;
    this.t.objType[i] = code;
    this.t.key[i] = k;
  }

  /**
   * Phase 2: resolve deltas as trees hanging off full objects, as git does: each base is
   * inflated once more and only the chain being walked is in memory. Then thin-pack bases.
   */
  async resolve(): Promise<void> {
    const { t, count } = this;
    // Kids by base as two flat arrays (counting sort): a Map of arrays per base costs the GC dearly.
    this.ofsStart = new Int32Array(count + 2);
    for (let i = 0; i < count; i++) if (t.base[i]! >= 0) this.ofsStart[t.base[i]! + 2]!++;
    for (let b = 2; b < count + 2; b++) this.ofsStart[b]! += this.ofsStart[b - 1]!;
    this.ofsKids = new Int32Array(this.ofsStart[count + 1]!);
    this.ofsTaken = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const ref = t.refBase.get(i);
      if (ref !== undefined) push(this.refKids, ref, i);
      else if (t.base[i]! >= 0) this.ofsKids[this.ofsStart[t.base[i]! + 1]!++] = i;
    }
    const roots = new Set<number>();
    for (let b = 0; b < count; b++) if (this.ofsStart[b + 1]! > this.ofsStart[b]! && t.objType[b]) roots.add(b);
    for (const oid of this.refKids.keys()) {
      const b = this.entryOf(oid);
      if (b >= 0) roots.add(b);
    }
    for (const r of [...roots].sort((a, b) => a - b)) await this.resolveTree(r, () => this.readEntryAsync(r));
    // Whatever still waits on an oid needs a base from the store: a thin pack.
    for (const oid of [...this.refKids.keys()]) {
      if (!this.refKids.has(oid)) continue; // produced inside the pack meanwhile
      const obj = this.opts.store.read(oid);
      if (!obj) continue;
      const i = t.add();
      this.external.add(i);
      this.resolved(i, typeCode(obj.type), obj.data);
      await this.resolveTree(i, () => this.opts.store.read(oid)!.data);
    }
    const missing = this.refKids.keys().next();
    if (!missing.done) throw new PackError(`delta base ${missing.value} not found`);
    if (this.deltasDone !== this.deltasTotal) {
      throw new PackError(`${this.deltasTotal - this.deltasDone} deltas could not be resolved (their bases form a loop)`);
    }
    this.opts.onProgress?.('resolving', this.deltasDone, this.deltasTotal);
  }

  /**
   * Depth-first over the deltas based on `root`. Memory is bounded whatever the pack's shape: a
   * base is let go once its last delta is applied, and when the chain's bases would hold more
   * than `hold` bytes the oldest are dropped and derived again if still needed (as git does).
   */
  private async resolveTree(root: number, rootData: () => Buffer | Promise<Buffer>): Promise<void> {
    const { t } = this;
    const stack: Frame[] = [{ i: root, data: await rootData(), kids: this.takeKids(root), next: 0, depth: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next === top.kids.length) {
        stack.pop();
        continue;
      }
      const c = top.kids[top.next++]!;
      const depth = top.depth + 1;
      this.budget?.depth(depth, `delta at offset ${t.offset[c]}`);
      const base = top.data ?? (await this.derive(stack, stack.length - 1, rootData));
      if (top.next === top.kids.length) top.data = null; // its last delta: nothing else needs it
      const data = await this.apply(base, this.readEntry(c));
      await this.resolvedAsync(c, t.objType[top.i]!, data);
      const kids = this.takeKids(c);
      if (kids.length > 0) {
        stack.push({ i: c, data, kids, next: 0, depth });
        this.trim(stack);
      }
      if (++this.deltasDone % YIELD_EVERY === 0) {
        this.opts.onProgress?.('resolving', this.deltasDone, this.deltasTotal);
        await yieldToLoop();
      }
    }
  }

  /** Drops the data of the bottom-most frames (never the top) while the stack holds more than `hold` bytes. */
  private trim(stack: Frame[]): void {
    let held = 0;
    for (const f of stack) held += f.data?.length ?? 0;
    for (let k = 0; held > this.hold && k < stack.length - 1; k++) {
      held -= stack[k]!.data?.length ?? 0;
      stack[k]!.data = null;
    }
  }

  /** The data of frame `k` again, from the nearest frame below it that kept its data (or the root). */
  private async derive(stack: Frame[], k: number, rootData: () => Buffer | Promise<Buffer>): Promise<Buffer> {
    let j = k;
    while (j > 0 && !stack[j]!.data) j--;
    let data = stack[j]!.data ?? (await rootData());
    for (let m = j + 1; m <= k; m++) data = await this.apply(data, this.readEntry(stack[m]!.i));
    return data;
  }

  /** Small results at once; large ones a slice at a time, serving other sessions in between. */
  private apply(base: Buffer, delta: Buffer): Buffer | Promise<Buffer> {
    const result = deltaResultSize(delta);
    return result !== null && result > SLICE ? applyDeltaSliced(base, delta, STREAM_CHUNK, yieldToLoop) : applyDelta(base, delta);
  }

  /** Removes and returns the deltas waiting on entry `i` (by offset or by oid). */
  private takeKids(i: number): ArrayLike<number> {
    let kids: ArrayLike<number> = EMPTY;
    if (i < this.count && !this.ofsTaken[i] && this.ofsStart[i + 1]! > this.ofsStart[i]!) {
      kids = this.ofsKids.subarray(this.ofsStart[i]!, this.ofsStart[i + 1]!);
      this.ofsTaken[i] = 1;
    }
    if (this.refKids.size === 0) return kids;
    const oid = this.oidHex(i);
    const byRef = this.refKids.get(oid);
    if (!byRef) return kids;
    this.refKids.delete(oid);
    return kids.length === 0 ? byRef : [...Array.from(kids), ...byRef];
  }

  /** Hashes a resolved object as `resolved` does, in slices with yields when it is large. */
  private async resolvedAsync(i: number, code: number, data: Buffer): Promise<void> {
    if (data.length <= SLICE) return this.resolved(i, code, data);
    const hash = createHash('sha1').update(objectHeader(typeName(code)!, data.length));
    for (let p = 0; p < data.length; p += SLICE) {
      hash.update(data.subarray(p, p + SLICE));
      await yieldToLoop();
    }
    this.record(i, code, hash.digest());
    this.opts.check?.object(code, data);
  }

  /**
   * `readEntry` for large entries: inflated on libuv's thread pool and copied into place a chunk
   * per event, so neither the inflate nor faulting in the result's pages holds the event loop.
   */
  private async readEntryAsync(i: number): Promise<Buffer> {
    const { t } = this;
    const size = t.size[i]!;
    if (size <= SLICE) return this.readEntry(i);
    const raw = Buffer.allocUnsafe(t.end[i]! - t.dataStart[i]!);
    readFully(this.fd, raw, t.dataStart[i]!);
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    const where = `pack entry at offset ${t.offset[i]}`;
    await new Promise<void>((resolve, reject) => {
      const z = createInflate({ chunkSize: STREAM_CHUNK });
      z.on('data', (chunk: Buffer) => {
        if (filled + chunk.length > size) return void z.destroy(new PackError(`${where} inflates to more than its declared ${size} bytes`));
        filled += chunk.copy(out, filled);
      });
      z.once('end', resolve);
      z.once('error', (err) => reject(err instanceof PackError ? err : new PackError(`${where} has corrupt zlib data (${err.message})`)));
      z.end(raw);
    });
    if (filled !== size) throw new PackError(`${where} inflates to ${filled} bytes, header says ${size}`);
    return out;
  }

  /** Inflated data of entry `i`, read back from the pack by its known extent. */
  private readEntry(i: number): Buffer {
    const { t } = this;
    const raw = this.blocks.view(t.dataStart[i]!, t.end[i]! - t.dataStart[i]!);
    return inflateEntry(raw, t.size[i]!, t.offset[i]!)!.data;
  }

}

/**
 * Reads a file's ranges through a few blocks kept from earlier reads: the deltas of one base,
 * resolved one after the other, mostly sit near each other in the pack.
 */
class BlockCache {
  private static readonly BLOCK = 256 << 10;
  private static readonly SLOTS = 8;
  private readonly slots: Array<{ start: number; len: number; buf: Buffer }> = [];
  private big = Buffer.alloc(0);

  constructor(private readonly fd: number) {}

  /** The bytes [pos, pos+len), valid until the next call. */
  view(pos: number, len: number): Buffer {
    for (let k = 0; k < this.slots.length; k++) {
      const s = this.slots[k]!;
      if (pos >= s.start && pos + len <= s.start + s.len) {
        if (k > 0) this.slots.unshift(...this.slots.splice(k, 1)); // most recent first
        return s.buf.subarray(pos - s.start, pos - s.start + len);
      }
    }
    if (len > BlockCache.BLOCK) {
      // A large entry is read on its own, into a buffer kept for the next one.
      if (this.big.length < len) this.big = Buffer.allocUnsafe(len);
      readFully(this.fd, this.big.subarray(0, len), pos);
      return this.big.subarray(0, len);
    }
    const slot = this.slots.length < BlockCache.SLOTS ? { start: 0, len: 0, buf: Buffer.allocUnsafe(BlockCache.BLOCK) } : this.slots.pop()!;
    slot.start = pos;
    slot.len = readFully(this.fd, slot.buf, pos);
    this.slots.unshift(slot);
    return slot.buf.subarray(0, Math.min(len, slot.len));
  }
}

/**
 * Inflates the zlib stream at `start` a chunk at a time, handing the output to `onData`.
 * Returns the stream's compressed length, or null if the file ends before it does.
 */
async function inflateStreaming(
  fd: number,
  start: number,
  need: (end: number) => Promise<number>,
  size: number,
  entryOffset: number,
  onData: (chunk: Buffer) => void,
): Promise<number | null> {
  const inflate = createInflate({ chunkSize: STREAM_CHUNK });
  let produced = 0;
  let finished = false;
  let failure: NodeJS.ErrnoException | undefined;
  inflate.on('data', (chunk: Buffer) => {
    produced += chunk.length;
    if (produced <= size) onData(chunk);
    else inflate.destroy(new PackError(`pack entry at offset ${entryOffset} inflates to more than its declared ${size} bytes`));
  });
  const settled = new Promise<void>((resolve) => {
    inflate.once('end', resolve);
    inflate.once('error', (err) => {
      failure = err;
      resolve();
    });
  }).then(() => void (finished = true));
  // zlib ends the stream by itself when input goes past the end of the zlib data.
  for (let p = start; !finished; ) {
    // The stream may end inside what was fed already: then no more input is needed (or coming).
    const limit = await Promise.race([need(p + 1), settled.then(() => -1)]);
    if (finished) break;
    if (limit <= p) break; // input ended
    const chunk = Buffer.allocUnsafe(Math.min(STREAM_CHUNK, limit - p));
    readFully(fd, chunk, p);
    p += chunk.length;
    await Promise.race([new Promise<void>((resolve) => inflate.write(chunk, () => resolve())), settled]);
    await yieldToLoop();
  }
  if (!finished) inflate.end();
  await settled;
  if (failure?.code === 'Z_BUF_ERROR') return null;
  if (failure instanceof PackError) throw failure;
  if (failure) throw new PackError(`pack entry at offset ${entryOffset} has corrupt zlib data (${failure.message})`);
  if (produced !== size) throw new PackError(`pack entry at offset ${entryOffset} inflates to ${produced} bytes, header says ${size}`);
  return inflate.bytesWritten;
}

/** One base on the delta resolution stack; `data` is null once let go. */
interface Frame {
  i: number;
  data: Buffer | null;
  kids: ArrayLike<number>;
  next: number;
  /** deltas between this object and the full object at the bottom */
  depth: number;
}

const EMPTY: ArrayLike<number> = [];

function push<K>(map: Map<K, number[]>, key: K, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function readFully(fd: number, buf: Buffer, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Phase 3: the final pack (linked, copied, or rewritten with thin bases appended) and its idx. */
async function writeOutput(packPath: string, fd: number, pack: ReceivedPack, trailer: Buffer, opts: IndexPackOptions): Promise<IndexPackResult> {
  const tag = randomBytes(6).toString('hex');
  const tmpPack = join(opts.destDir, `tmp_pack_${tag}`);
  const tmpIdx = join(opts.destDir, `tmp_idx_${tag}`);
  let placed = '';
  try {
    const checksum = pack.external.size > 0 ? await writeCompletedPack(fd, pack, tmpPack, opts.store) : await linkPack(packPath, fd, tmpPack, trailer);
    const name = join(opts.destDir, `pack-${checksum.toString('hex')}`);
    const { idx, oids } = await buildIdx(pack, checksum);
    const result = { packFile: `${name}.pack`, idxFile: `${name}.idx`, objectCount: oids.length / 20, appendedBases: pack.external.size, sortedOids: oids };
    if (existsSync(result.idxFile)) {
      rmSync(tmpPack); // this very pack is stored already
      return result;
    }
    await writeFileDurably(tmpIdx, idx);
    chmodSync(tmpPack, 0o444);
    renameSync(tmpPack, result.packFile);
    placed = result.packFile;
    renameSync(tmpIdx, result.idxFile); // last: readers find packs by their .idx
    return result;
  } catch (err) {
    rmSync(tmpPack, { force: true });
    rmSync(tmpIdx, { force: true });
    if (placed) rmSync(placed, { force: true });
    throw err;
  }
}

/** The received pack is final as it is: a hard link (or a copy) puts it in place without rewriting. */
async function linkPack(packPath: string, fd: number, tmpPack: string, trailer: Buffer): Promise<Buffer> {
  await fsyncOffLoop(fd);
  try {
    linkSync(packPath, tmpPack);
  } catch {
    copyFileSync(packPath, tmpPack); // another filesystem, or no hard links
  }
  return trailer;
}

/** Copies the pack with thin bases appended as full objects, a new count and a new checksum. */
async function writeCompletedPack(fd: number, pack: ReceivedPack, tmpPack: string, store: ObjectStore): Promise<Buffer> {
  const { t } = pack;
  const out = openSync(tmpPack, 'wx', 0o644);
  try {
    const hash = createHash('sha1');
    const emit = (b: Buffer) => {
      hash.update(b);
      writeFully(out, b);
    };
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    const body = pack.size - 20;
    for (let pos = 0; pos < body; ) {
      const n = readFully(fd, chunk.subarray(0, Math.min(chunk.length, body - pos)), pos);
      if (n === 0) throw new Error('received pack shrank while being indexed');
      if (pos === 0) chunk.writeUInt32BE(pack.count + pack.external.size, 8);
      emit(chunk.subarray(0, n));
      pos += n;
      await yieldToLoop();
    }
    let offset = body;
    for (const i of [...pack.external].sort((a, b) => a - b)) {
      const obj = store.read(pack.oidHex(i))!;
      const entry = Buffer.concat([encodeEntryHeader(typeCode(obj.type), obj.data.length), deflateSync(obj.data, { level: DEFLATE_LEVEL })]);
      t.offset[i] = offset;
      t.crc[i] = crc32(entry);
      emit(entry);
      offset += entry.length;
    }
    const checksum = hash.digest();
    writeFully(out, checksum);
    await fsyncOffLoop(out);
    return checksum;
  } finally {
    closeSync(out);
  }
}

async function buildIdx(pack: ReceivedPack, checksum: Buffer): Promise<{ idx: Buffer; oids: Buffer }> {
  const { t, oids: table } = pack;
  // Sorted by oid a first byte at a time, yielding in between: one sort of a big pack would hold
  // the event loop (and every other session) for a long moment.
  const buckets: number[][] = Array.from({ length: 256 }, () => []);
  for (const i of pack.external) buckets[table.key(t.key[i]!)[0]!]!.push(i);
  for (let i = 0; i < pack.count; i++) buckets[table.key(t.key[i]!)[0]!]!.push(i);
  const order: number[] = [];
  for (const bucket of buckets) {
    bucket.sort((a, b) => table.compare(t.key[a]!, t.key[b]!));
    for (const i of bucket) order.push(i);
    if (bucket.length > 1000) await yieldToLoop();
  }
  const oids = Buffer.allocUnsafe(order.length * 20);
  const crcs = new Uint32Array(order.length);
  const offsets = new Float64Array(order.length);
  order.forEach((i, k) => {
    table.key(t.key[i]!).copy(oids, k * 20);
    crcs[k] = t.crc[i]!;
    offsets[k] = t.offset[i]!;
  });
  return { idx: encodeIdx({ oids, crcs, offsets }, checksum), oids };
}

/** fsync on libuv's thread pool: flushing a big pack can take seconds on a busy disk, and the event loop serves other sessions meanwhile. */
function fsyncOffLoop(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** A new read-only file, written and fsynced off the event loop. */
async function writeFileDurably(file: string, data: Buffer): Promise<void> {
  const fh = await fsPromises.open(file, 'wx', 0o444);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function writeFully(fd: number, buf: Buffer): void {
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
}
