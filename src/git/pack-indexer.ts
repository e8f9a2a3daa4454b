/**
 * `git index-pack` for a received pack file: checks it, resolves every delta, completes thin
 * packs with their missing bases, and writes pack-<sha>.pack/.idx. Streams the pack from disk;
 * memory is bounded by one object, the delta chain being resolved and a cache of bases.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, deflateSync } from 'node:zlib';
import { ByteLru } from './byte-lru.ts';
import { GitFormatError, objectHeader } from './objects.ts';
import type { ObjectStore } from './object-store.ts';
import {
  MAX_ENTRY_HEADER,
  OBJ_OFS_DELTA,
  OBJ_REF_DELTA,
  PACK_SIGNATURE,
  applyDelta,
  decodeEntryHeader,
  encodeEntryHeader,
  encodeIdx,
  inflateEntry,
  maxDeflatedSize,
  typeCode,
  typeName,
  type Inflated,
} from './pack-format.ts';

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
  /** budget for resolved objects kept as delta bases */
  cacheBytes?: number;
}

export interface IndexPackResult {
  packFile: string;
  idxFile: string;
  objectCount: number;
  appendedBases: number;
  /** every object in the final pack, sorted */
  oids: string[];
}

const READ_CHUNK = 4 << 20;
const YIELD_EVERY = 256;
/** Small on purpose: V8 lets ~64 MB of dead buffers pile up before it collects them, on top of this. */
const DEFAULT_CACHE_BYTES = 8 << 20;

/**
 * Indexes the pack at `packPath` into `destDir`. `packPath` itself is never changed or removed
 * (the final pack is a hard link or copy of it); on error nothing is left in `destDir`.
 */
export async function indexPack(packPath: string, opts: IndexPackOptions): Promise<IndexPackResult> {
  const fd = openSync(packPath, 'r');
  try {
    const pack = new ReceivedPack(fd, readCount(fd), opts);
    const trailer = await pack.parse();
    if (pack.count === 0) return { packFile: '', idxFile: '', objectCount: 0, appendedBases: 0, oids: [] };
    await pack.resolve();
    return writeOutput(packPath, fd, pack, trailer, opts);
  } catch (err) {
    if (err instanceof GitFormatError) throw new PackError(err.message);
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
  /** stored type code: 1-4, OFS_DELTA or REF_DELTA */
  code: Uint8Array;
  /** resolved object type code 1-4; 0 while unresolved */
  objType: Uint8Array;
  crc: Uint32Array;
  /** entry index of the delta base; -1 if none or not yet known */
  base: Int32Array;
  oid: string[] = [];
  /** REF_DELTA base oids still to be found */
  refBase = new Map<number, string>();

  constructor(capacity: number) {
    this.offset = new Float64Array(capacity);
    this.dataStart = new Float64Array(capacity);
    this.end = new Float64Array(capacity);
    this.size = new Float64Array(capacity);
    this.code = new Uint8Array(capacity);
    this.objType = new Uint8Array(capacity);
    this.crc = new Uint32Array(capacity);
    this.base = new Int32Array(capacity).fill(-1);
  }

  add(): number {
    if (this.count === this.code.length) this.grow();
    return this.count++;
  }

  private grow(): void {
    const cap = Math.max(16, this.code.length * 2);
    const widen = <T extends Float64Array | Uint8Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a as never);
      return b;
    };
    this.offset = widen(this.offset, (n) => new Float64Array(n));
    this.dataStart = widen(this.dataStart, (n) => new Float64Array(n));
    this.end = widen(this.end, (n) => new Float64Array(n));
    this.size = widen(this.size, (n) => new Float64Array(n));
    this.code = widen(this.code, (n) => new Uint8Array(n));
    this.objType = widen(this.objType, (n) => new Uint8Array(n));
    this.crc = widen(this.crc, (n) => new Uint32Array(n));
    this.base = widen(this.base, (n) => new Int32Array(n).fill(-1));
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
    readonly limit: number,
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
function readCount(fd: number): number {
  const head = Buffer.alloc(12);
  if (fstatSync(fd).size < 32 || readFully(fd, head, 0) < 12) throw new PackError('pack is truncated: it has no complete header');
  if (head.readUInt32BE(0) !== PACK_SIGNATURE) throw new PackError('pack header is not a git pack (bad signature)');
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new PackError(`pack version ${version} is not supported`);
  return head.readUInt32BE(8);
}

class ReceivedPack {
  readonly t: EntryTable;
  readonly size: number;
  /** entry index by oid, for REF_DELTA bases and duplicate detection */
  private readonly byOid = new Map<string, number>();
  /** resolved objects that may serve as delta bases, by entry index */
  private readonly cache: ByteLru<number, Buffer>;
  /** deltas whose base was not at hand while parsing */
  private deferred: number[] = [];
  private deltasTotal = 0;
  private deltasDone = 0;
  /** appended thin-pack bases, by entry index */
  readonly external = new Set<number>();
  /** reused for compressed bytes read back in phase 2: fewer dead buffers for the GC */
  private scratch = Buffer.allocUnsafe(64 << 10);

  constructor(
    private readonly fd: number,
    /** objects in the received pack, as its header says */
    readonly count: number,
    private readonly opts: IndexPackOptions,
  ) {
    this.size = fstatSync(fd).size;
    this.cache = new ByteLru(opts.cacheBytes ?? DEFAULT_CACHE_BYTES, (b) => b.length);
    // Each entry takes at least 8 bytes: a lying header count must not size the allocation.
    this.t = new EntryTable(Math.min(count, Math.ceil(this.size / 8)));
  }

  /** Phase 1: walk every entry in order, check sizes, CRC and the pack checksum; resolve what we can. */
  async parse(): Promise<Buffer> {
    const { t, count } = this;
    const reader = new PackReader(this.fd, this.size - 20);
    const packHash = createHash('sha1').update(reader.view(0, 12));
    let pos = 12;
    for (let n = 0; n < count; n++) {
      if (n % YIELD_EVERY === 0 && n > 0) {
        this.opts.onProgress?.('indexing', n, count);
        await yieldToLoop();
      }
      const h = decodeEntryHeader(reader.view(pos, MAX_ENTRY_HEADER), 0, pos);
      if (!h) throw new PackError(`pack is truncated: expected ${count} objects, got ${n}`);
      let window = h.length + maxDeflatedSize(h.size);
      let view: Buffer;
      let inflated: Inflated | null;
      for (;;) {
        view = reader.view(pos, window);
        inflated = inflateEntry(view.subarray(h.length), h.size, pos);
        if (inflated) break;
        if (pos + view.length >= reader.limit) throw new PackError(`pack is truncated: expected ${count} objects, got ${n}`);
        window *= 2;
      }
      const raw = view.subarray(0, h.length + inflated.consumed);
      packHash.update(raw);
      const i = t.add();
      t.offset[i] = pos;
      t.dataStart[i] = pos + h.length;
      t.end[i] = pos + raw.length;
      t.size[i] = h.size;
      t.code[i] = h.code;
      t.crc[i] = crc32(raw);
      pos += raw.length;
      if (h.code === OBJ_OFS_DELTA || h.code === OBJ_REF_DELTA) {
        this.deltasTotal++;
        this.parseDelta(i, h.baseDistance, h.baseOid, inflated.data);
      } else {
        this.resolved(i, h.code, inflated.data);
      }
    }
    if (pos !== reader.limit) {
      throw new PackError(`pack has ${reader.limit - pos} bytes of unexpected data after its ${count} objects`);
    }
    const trailer = Buffer.alloc(20);
    readFully(this.fd, trailer, reader.limit);
    if (!packHash.digest().equals(trailer)) throw new PackError('pack checksum mismatch');
    this.opts.onProgress?.('indexing', count, count);
    return trailer;
  }

  private parseDelta(i: number, baseDistance: number | undefined, baseOid: string | undefined, delta: Buffer): void {
    const { t } = this;
    let base: number;
    if (baseDistance !== undefined) {
      base = t.atOffset(t.offset[i]! - baseDistance, i);
      if (base < 0) throw new PackError(`delta at offset ${t.offset[i]} refers to offset ${t.offset[i]! - baseDistance}, where no object starts`);
    } else {
      base = this.byOid.get(baseOid!) ?? -1;
      if (base < 0) t.refBase.set(i, baseOid!);
    }
    t.base[i] = base;
    const baseData = base >= 0 && t.objType[base] ? this.cache.get(base) : undefined;
    if (!baseData) {
      this.deferred.push(i);
      return;
    }
    this.resolved(i, t.objType[base]!, applyDelta(baseData, delta));
    this.deltasDone++;
  }

  /** Records entry `i` as object `data` of type `code`; it may become a base, so it is cached. */
  private resolved(i: number, code: number, data: Buffer): string {
    const oid = createHash('sha1').update(objectHeader(typeName(code)!, data.length)).update(data).digest('hex');
    const { t } = this;
    const seen = this.byOid.get(oid);
    // A thin base appended before the pack turned out to contain it after all is dropped.
    if (seen !== undefined && !this.external.delete(seen)) throw new PackError(`object ${oid} appears twice in the pack`);
    this.byOid.set(oid, i);
    t.objType[i] = code;
    t.oid[i] = oid;
    this.cache.set(i, data);
    return oid;
  }

  /** Phase 2: resolve deferred deltas as trees hanging off resolved objects, then off thin bases. */
  async resolve(): Promise<void> {
    const { t } = this;
    const ofsKids = new Map<number, number[]>();
    const refKids = new Map<string, number[]>();
    for (const d of this.deferred) {
      const ref = t.refBase.get(d);
      if (ref === undefined) push(ofsKids, t.base[d]!, d);
      else push(refKids, ref, d);
    }
    this.deferred = [];
    const takeKids = (i: number): number[] => {
      const kids = [...(ofsKids.get(i) ?? []), ...(refKids.get(t.oid[i]!) ?? [])];
      ofsKids.delete(i);
      refKids.delete(t.oid[i]!);
      return kids;
    };
    const roots = new Set<number>();
    for (const b of ofsKids.keys()) if (t.objType[b]) roots.add(b);
    for (const oid of refKids.keys()) {
      const b = this.byOid.get(oid);
      if (b !== undefined) roots.add(b);
    }
    for (const r of [...roots].sort((a, b) => a - b)) await this.resolveTree(r, this.materialize(r), takeKids);
    // Whatever still waits on an oid needs a base from the store: a thin pack.
    for (const oid of [...refKids.keys()]) {
      if (!refKids.has(oid)) continue; // produced inside the pack meanwhile
      const obj = this.opts.store.read(oid);
      if (!obj) continue;
      const i = t.add();
      t.code[i] = typeCode(obj.type);
      this.external.add(i);
      this.resolved(i, t.code[i]!, obj.data);
      await this.resolveTree(i, obj.data, takeKids);
    }
    const missing = refKids.keys().next();
    if (!missing.done) throw new PackError(`delta base ${missing.value} not found`);
    if (ofsKids.size > 0) throw new PackError(`${this.deltasTotal - this.deltasDone} deltas could not be resolved`);
    this.opts.onProgress?.('resolving', this.deltasDone, this.deltasTotal);
  }

  /** Depth-first over the deltas based on `root`, holding only the current chain in memory. */
  private async resolveTree(root: number, rootData: Buffer, takeKids: (i: number) => number[]): Promise<void> {
    const { t } = this;
    const stack = [{ i: root, data: rootData, kids: takeKids(root), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next === top.kids.length) {
        stack.pop();
        continue;
      }
      const c = top.kids[top.next++]!;
      t.base[c] = top.i;
      const data = applyDelta(top.data, this.readEntry(c));
      this.resolved(c, t.objType[top.i]!, data);
      const kids = takeKids(c);
      if (kids.length > 0) stack.push({ i: c, data, kids, next: 0 });
      if (++this.deltasDone % YIELD_EVERY === 0) {
        this.opts.onProgress?.('resolving', this.deltasDone, this.deltasTotal);
        await yieldToLoop();
      }
    }
  }

  /** The object at entry `i`, which was resolved before: from the cache, or rebuilt from the pack. */
  private materialize(i: number): Buffer {
    const { t } = this;
    const chain: number[] = [];
    let cur = i;
    let data: Buffer | undefined;
    for (;;) {
      data = this.cache.get(cur);
      if (data) break;
      if (this.external.has(cur)) {
        data = this.opts.store.read(t.oid[cur]!)!.data;
        break;
      }
      if (t.code[cur] !== OBJ_OFS_DELTA && t.code[cur] !== OBJ_REF_DELTA) {
        data = this.readEntry(cur);
        break;
      }
      chain.push(cur);
      cur = t.base[cur]!;
    }
    for (let k = chain.length - 1; k >= 0; k--) data = applyDelta(data, this.readEntry(chain[k]!));
    return data;
  }

  /** Inflated data of entry `i`, read back from the pack by its known extent. */
  private readEntry(i: number): Buffer {
    const { t } = this;
    const length = t.end[i]! - t.dataStart[i]!;
    if (length > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(length, 2 * this.scratch.length));
    const raw = this.scratch.subarray(0, length);
    readFully(this.fd, raw, t.dataStart[i]!);
    return inflateEntry(raw, t.size[i]!, t.offset[i]!)!.data;
  }
}

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
function writeOutput(packPath: string, fd: number, pack: ReceivedPack, trailer: Buffer, opts: IndexPackOptions): IndexPackResult {
  const tag = randomBytes(6).toString('hex');
  const tmpPack = join(opts.destDir, `tmp_pack_${tag}`);
  const tmpIdx = join(opts.destDir, `tmp_idx_${tag}`);
  let finalPack = '';
  try {
    let checksum = trailer;
    if (pack.external.size > 0) {
      checksum = writeCompletedPack(fd, pack, tmpPack, opts.store);
    } else {
      fsyncSync(fd);
      try {
        linkSync(packPath, tmpPack);
      } catch {
        copyFileSync(packPath, tmpPack); // another filesystem, or no hard links
      }
    }
    const name = `pack-${checksum.toString('hex')}`;
    const { idx, oids } = buildIdx(pack, checksum);
    writeFileDurably(tmpIdx, idx);
    chmodSync(tmpPack, 0o444);
    finalPack = join(opts.destDir, `${name}.pack`);
    renameSync(tmpPack, finalPack);
    const finalIdx = join(opts.destDir, `${name}.idx`);
    renameSync(tmpIdx, finalIdx); // last: readers find packs by their .idx
    return { packFile: finalPack, idxFile: finalIdx, objectCount: oids.length, appendedBases: pack.external.size, oids };
  } catch (err) {
    rmSync(tmpPack, { force: true });
    rmSync(tmpIdx, { force: true });
    if (finalPack) rmSync(finalPack, { force: true });
    throw err;
  }
}

/** Copies the pack with thin bases appended as full objects, a new count and a new checksum. */
function writeCompletedPack(fd: number, pack: ReceivedPack, tmpPack: string, store: ObjectStore): Buffer {
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
      if (pos === 0) chunk.writeUInt32BE(pack.count + pack.external.size, 8);
      emit(chunk.subarray(0, n));
      pos += n;
    }
    let offset = body;
    for (const i of [...pack.external].sort((a, b) => a - b)) {
      const obj = store.read(t.oid[i]!)!;
      const entry = Buffer.concat([encodeEntryHeader(typeCode(obj.type), obj.data.length), deflateSync(obj.data)]);
      t.offset[i] = offset;
      t.crc[i] = crc32(entry);
      emit(entry);
      offset += entry.length;
    }
    const checksum = hash.digest();
    writeFully(out, checksum);
    fsyncSync(out);
    return checksum;
  } finally {
    closeSync(out);
  }
}

function buildIdx(pack: ReceivedPack, checksum: Buffer): { idx: Buffer; oids: string[] } {
  const { t } = pack;
  const order: number[] = [...pack.external];
  for (let i = 0; i < pack.count; i++) order.push(i);
  order.sort((a, b) => (t.oid[a]! < t.oid[b]! ? -1 : 1));
  const oids = Buffer.allocUnsafe(order.length * 20);
  const crcs = new Uint32Array(order.length);
  const offsets = new Float64Array(order.length);
  order.forEach((i, k) => {
    oids.write(t.oid[i]!, k * 20, 'hex');
    crcs[k] = t.crc[i]!;
    offsets[k] = t.offset[i]!;
  });
  return { idx: encodeIdx({ oids, crcs, offsets }, checksum), oids: order.map((i) => t.oid[i]!) };
}

function writeFully(fd: number, buf: Buffer): void {
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
}

function writeFileDurably(path: string, data: Buffer): void {
  const fd = openSync(path, 'wx', 0o444);
  try {
    writeFully(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
