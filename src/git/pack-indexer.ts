/**
 * `git index-pack` for a received pack file: checks it, resolves every delta, completes thin
 * packs with their missing bases, and writes pack-<sha>.pack/.idx. Streams the pack from disk;
 * memory holds per-entry facts, plus only the delta chain being resolved.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, createInflate } from 'node:zlib';
import { GarbagePacer } from '../lib/garbage-pacer.ts';
import { EntryTable } from './entry-table.ts';
import { GitFormatError, objectHeader } from './objects.ts';
import type { ObjectStore } from './object-store.ts';
import { OidTable } from './oid-table.ts';
import type { PackObjectCheck } from './pack-check.ts';
import { PackError } from './pack-error.ts';
import {
  MAX_ENTRY_HEADER,
  PACK_SIGNATURE,
  PackIndex,
  applyDelta,
  applyDeltaSliced,
  decodeEntryHeader,
  inflateEntry,
  maxDeflatedSize,
  typeCode,
  typeName,
  type Inflated,
} from './pack-format.ts';
import { writeOutput } from './pack-output.ts';
import { BlockCache, PackReader, STREAM_CHUNK, inflateStreaming, readFully } from './pack-reading.ts';
import { LimitError, PackBudget, deltaResultSize, type PushLimits } from './push-limits.ts';

export { PackError };

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
}

/** The objects of an indexed pack as hex ids, sorted, read from its idx. */
export function oidsOf(result: IndexPackResult): string[] {
  if (!result.idxFile) return [];
  const idx = new PackIndex(readFileSync(result.idxFile), result.idxFile);
  return Array.from({ length: idx.count }, (_, pos) => idx.oidAt(pos));
}

/** Full objects larger than this are inflated piecewise in phase 1 (linear in their size while they arrive). */
const STREAM_ABOVE = 1 << 20;
const YIELD_EVERY = 256;
/** The fewest bytes a pack entry takes: a 1-byte header and the shortest zlib stream (8 bytes). */
const MIN_ENTRY = 9;
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
    if (pack.count === 0) return { packFile: '', idxFile: '', objectCount: 0, appendedBases: 0 };
    await pack.resolve();
    opts.check?.verifyLinks((k) => pack.typeAt(k), (oid) => opts.store.has(oid));
    return await writeOutput(packPath, fd, pack, trailer, opts);
  } catch (err) {
    if (err instanceof GitFormatError || err instanceof LimitError) throw new PackError(err.message);
    throw err;
  } finally {
    closeSync(fd);
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
  /** the objects' ids (and, with a check, the ids they link to), valued entry index + 1: for REF_DELTA bases, duplicates and the idx */
  readonly oids: OidTable;
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
  /** every inflated entry and applied delta is garbage soon after */
  private readonly pacer = new GarbagePacer();

  constructor(
    private readonly fd: number,
    /** objects in the received pack, as its header says */
    readonly count: number,
    private readonly source: PackSource,
    private readonly opts: IndexPackOptions,
  ) {
    // A lying header count must not size the allocation: parse() reserves room as bytes arrive.
    this.t = new EntryTable(Math.min(count, 1 << 16));
    this.budget = opts.limits ? new PackBudget(opts.limits) : null;
    this.hold = opts.limits?.maxObjectBytes ?? DEFAULT_HOLD;
    this.blocks = new BlockCache(fd);
    // One table for the pack's ids and the ids its objects link to: they are mostly the same.
    this.oids = opts.check?.ids ?? new OidTable();
    this.oids.expect(count);
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
        // Room for every entry the bytes so far can hold (each takes MIN_ENTRY or more), as the
        // header counts: once a pack is in, its tables are sized once, not grown in doublings.
        const room = Math.min(count, Math.floor(this.avail / MIN_ENTRY));
        t.reserve(room);
        this.oids.reserve(room);
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
      t.setOffset(i, pos);
      t.headerLength[i] = h.length;
      t.setSize(i, h.size);
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
        this.pacer.dropped(inflated.data.length);
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

  /** The type code of the object with id `k` in `oids`, 0 when the pack lacks it. */
  typeAt(k: number): number {
    const v = this.oids.values[k]!;
    return v === 0 ? 0 : this.t.objType[v - 1]!;
  }

  /** Entry index of the object `oid`, or -1. */
  private entryOf(oid: string): number {
    const k = this.oids.findHex(oid);
    return k < 0 ? -1 : this.oids.values[k]! - 1;
  }

  oidHex(i: number): string {
    return this.oids.hex(this.t.key[i]!);
  }

  private record(i: number, code: number, oid: Buffer): void {
    const k = this.oids.insert(oid, 0);
    // values hold entry index + 1: an id only linked to is not (yet) an entry.
    const seen = this.oids.values[k]! - 1;
    // A thin base appended before the pack turned out to contain it after all is dropped.
    if (seen >= 0 && !this.external.delete(seen)) throw new PackError(`object ${oid.toString('hex')} appears twice in the pack`);
    this.oids.values[k] = i + 1;
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
    t.releaseBases();
    // Full objects with deltas on them, marked before any is resolved, walked in pack order.
    const roots = new Uint8Array(count);
    for (let b = 0; b < count; b++) if (this.ofsStart[b + 1]! > this.ofsStart[b]! && t.objType[b]) roots[b] = 1;
    for (const oid of this.refKids.keys()) {
      const b = this.entryOf(oid);
      if (b >= 0) roots[b] = 1;
    }
    for (let r = 0; r < count; r++) if (roots[r]) await this.resolveTree(r, () => this.readEntryAsync(r));
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
    // The idx is built next: let go of what only this phase needed.
    this.ofsStart = this.ofsKids = new Int32Array(0);
    this.ofsTaken = new Uint8Array(0);
    this.blocks.release();
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
      this.budget?.depth(depth, `delta at offset ${t.offset(c)}`);
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
    this.pacer.dropped(delta.length + (result ?? 0));
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
    const size = t.size(i);
    if (size <= SLICE) return this.readEntry(i);
    const raw = Buffer.allocUnsafe(this.entryEnd(i) - t.dataStart(i));
    readFully(this.fd, raw, t.dataStart(i));
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    const where = `pack entry at offset ${t.offset(i)}`;
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

  /** Where entry `i` of the received pack ends: where the next starts, or the trailer. */
  private entryEnd(i: number): number {
    return i + 1 < this.count ? this.t.offset(i + 1) : this.size - 20;
  }

  /** Inflated data of entry `i`, read back from the pack by its known extent. */
  private readEntry(i: number): Buffer {
    const { t } = this;
    const raw = this.blocks.view(t.dataStart(i), this.entryEnd(i) - t.dataStart(i));
    return inflateEntry(raw, t.size(i), t.offset(i))!.data;
  }

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

