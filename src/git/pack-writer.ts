/**
 * `git pack-objects --stdout` for a given object list: streams a pack v2, copying stored
 * compressed entries as they are (deltas included, when their base is sent too).
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, deflate, deflateSync, type ZlibOptions } from 'node:zlib';
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
const RESOLVE_YIELD_EVERY = 4096;
/** Objects larger than this that must be deflated anew are deflated off the event loop. */
const ASYNC_DEFLATE = 1 << 20;

/**
 * Writes a pack holding exactly `oids` (distinct); a delta's base is written before it. Stored
 * entries are written in the order they are stored (pack by pack, in the order the packs first
 * appear in `oids`, then by offset), the others after them in the order given: a clone's objects
 * then come off the disk front to back, every stored OFS_DELTA finds its base already written,
 * and a run of entries that keep their stored bytes is copied in one piece. Returns the pack's
 * checksum.
 */
export async function writePack(
  oids: string[],
  store: ObjectStore,
  write: (chunk: Buffer) => Promise<void> | void,
  opts: WritePackOptions,
): Promise<Buffer> {
  /** index of every oid in `oids` */
  const indexOf = new Map<string, number>();
  for (let i = 0; i < oids.length; i++) indexOf.set(oids[i]!, i);
  if (indexOf.size !== oids.length) throw new Error('writePack needs distinct oids');
  const entryOf = opts.entryOf ?? ((oid: string) => store.packedEntry(oid));
  const entries: Array<PackedEntry | null> = [];
  for (const oid of oids) {
    entries.push(entryOf(oid));
    if (entries.length % RESOLVE_YIELD_EVERY === 0) await yieldToLoop(); // a clone resolves 100k+ entries
  }
  const out = new PackOutput(write, opts.onEntry !== undefined);
  const head = Buffer.alloc(12);
  head.writeUInt32BE(PACK_SIGNATURE, 0);
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(oids.length, 8);
  out.put(head);

  /** output offset of every object written so far, by index in `oids` */
  const written = new Float64Array(oids.length).fill(-1);
  /** the same by pack and stored offset: an OFS_DELTA finds its base without a lookup of its oid */
  const writtenAt = new Map<PackFile, Map<number, number>>();
  const ofsBaseAt = (e: PackedEntry | null) => (e?.kind === 'ofs-delta' ? writtenAt.get(e.pack)?.get(e.baseOffset!) : undefined);
  const baseIndex = (entry: PackedEntry | null) => (entry?.baseOid !== undefined ? indexOf.get(entry.baseOid) : undefined);
  /** Writes object `i`; a promise only when it deflates a large object off the loop. */
  const writeOne = (i: number): Promise<void> | void => {
    const entry = entries[i]!;
    const at = out.offset;
    written[i] = at;
    if (entry) {
      let byOffset = writtenAt.get(entry.pack);
      if (!byOffset) writtenAt.set(entry.pack, (byOffset = new Map()));
      byOffset.set(entry.offset, at);
    }
    if (entry?.kind === 'full') return out.copy(entry.pack, entry.offset, entry.rawEnd);
    let baseAt = ofsBaseAt(entry) ?? -1;
    if (baseAt < 0) {
      const b = baseIndex(entry);
      if (b !== undefined) baseAt = written[b]!;
    }
    if (entry && baseAt >= 0) {
      if (opts.ofsDelta) {
        // The stored OFS_DELTA header is still right when its base is as far behind as it was.
        if (entry.kind === 'ofs-delta' && at - baseAt === entry.offset - entry.baseOffset!) return out.copy(entry.pack, entry.offset, entry.rawEnd);
        out.put(encodeEntryHeader(OBJ_OFS_DELTA, entry.size));
        out.put(encodeOfsDistance(at - baseAt));
      } else {
        out.put(encodeEntryHeader(OBJ_REF_DELTA, entry.size));
        out.put(Buffer.from(entry.baseOid!, 'hex'));
      }
      return out.copy(entry.pack, entry.rawStart, entry.rawEnd);
    }
    const oid = oids[i]!;
    const obj = store.read(oid);
    if (!obj) throw new GitFormatError(`object ${oid} is missing from the repository`);
    out.put(encodeEntryHeader(typeCode(obj.type), obj.data.length));
    if (obj.data.length > ASYNC_DEFLATE) return deflateAsync(obj.data, { level: DEFLATE_LEVEL }).then((data) => out.put(data));
    out.put(deflateSync(obj.data, { level: DEFLATE_LEVEL }));
  };

  let done = 0;
  const chain: number[] = [];
  for (const i of storedOrder(entries)) {
    if (written[i]! >= 0) continue;
    // Walk down the stored delta chain to the first base that is written or not sent, then write back up.
    chain.length = 0;
    for (let cur: number | undefined = i; cur !== undefined; ) {
      chain.push(cur);
      const e = entries[cur]!;
      if (e?.kind === 'full' || ofsBaseAt(e) !== undefined) break;
      const b = baseIndex(e);
      cur = b !== undefined && written[b]! < 0 && !chain.includes(b) ? b : undefined;
    }
    for (let k = chain.length - 1; k >= 0; k--) {
      const c = chain[k]!;
      const at = out.offset;
      out.crc = 0;
      const deflating = writeOne(c);
      if (deflating) await deflating;
      if (opts.onEntry) {
        await out.drain();
        out.settle();
        opts.onEntry(oids[c]!, at, out.crc);
      } else if (out.backlog) await out.drain();
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

function deflateAsync(data: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => deflate(data, options, (err, out) => (err ? reject(err) : resolve(out))));
}

/** Indexes of `entries`: stored ones by pack (in order of first appearance) and offset, then the rest as given. */
function storedOrder(entries: Array<PackedEntry | null>): Uint32Array {
  const byPack = new Map<PackFile, number[]>();
  const rest: number[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!e) rest.push(i);
    else {
      const list = byPack.get(e.pack);
      if (list) list.push(i);
      else byPack.set(e.pack, [i]);
    }
  }
  const order = new Uint32Array(entries.length);
  let k = 0;
  for (const list of byPack.values()) {
    if (list.length < 2 ** 21 && list.every((i) => entries[i]!.offset < 2 ** 32)) {
      // Offset and list position in one exact double: a native numeric sort, no comparator calls.
      const keyed = new Float64Array(list.length);
      for (let j = 0; j < list.length; j++) keyed[j] = entries[list[j]!]!.offset * 2 ** 21 + j;
      keyed.sort();
      for (let j = 0; j < keyed.length; j++) order[k++] = list[keyed[j]! % 2 ** 21]!;
    } else {
      list.sort((a, b) => entries[a]!.offset - entries[b]!.offset);
      for (const i of list) order[k++] = i;
    }
  }
  order.set(rest, k);
  return order;
}

/**
 * Buffers output into chunks of at most 64 KiB and hashes it. Writes are synchronous; the sink
 * is called (and awaited, for backpressure) in drain(). Pack bytes to copy are read only when
 * the output reaches them: adjacent copies from one pack become one read of many entries.
 */
class PackOutput {
  /** bytes emitted so far, buffered and pending ones included */
  offset = 0;
  /** CRC-32 of the bytes put since it was last set to 0, when tracked */
  crc = 0;
  private buf = Buffer.allocUnsafe(CHUNK);
  private fill = 0;
  /** full chunks waiting for the sink */
  private readonly ready: Buffer[] = [];
  /** pack bytes to copy next: [start, end) of `pack` */
  private pending: { pack: PackFile; start: number; end: number } | null = null;
  private readonly hash = createHash('sha1');

  constructor(
    private readonly write: (chunk: Buffer) => Promise<void> | void,
    private readonly trackCrc: boolean,
  ) {}

  /** Whether drain() has work: a chunk to hand on, or enough pack bytes pending for one. */
  get backlog(): boolean {
    return this.ready.length > 0 || (this.pending !== null && this.pending.end - this.pending.start >= CHUNK);
  }

  put(data: Buffer): void {
    this.materialize();
    if (this.trackCrc) this.crc = crc32(data, this.crc);
    this.offset += data.length;
    for (let pos = 0; pos < data.length; ) {
      const n = Math.min(data.length - pos, CHUNK - this.fill);
      data.copy(this.buf, this.fill, pos, pos + n);
      this.advance(n);
      pos += n;
    }
  }

  /** Copies pack bytes [start, end) into the output (read later, together with adjacent copies). */
  copy(pack: PackFile, start: number, end: number): void {
    this.offset += end - start;
    const p = this.pending;
    if (p && p.pack === pack && p.end === start && !this.trackCrc) {
      p.end = end;
      return;
    }
    this.materialize();
    this.pending = { pack, start, end };
  }

  /** Reads what is left to copy (less than a chunk after drain()), so that `crc` covers the entry. */
  settle(): void {
    this.materialize();
  }

  /** Hands every full chunk to the sink. */
  async drain(): Promise<void> {
    for (;;) {
      const chunk = this.ready.shift();
      if (chunk) {
        await this.write(chunk);
        continue;
      }
      if (!this.pending || this.pending.end - this.pending.start < CHUNK) return;
      this.materialize(CHUNK);
    }
  }

  async end(): Promise<Buffer> {
    this.materialize();
    if (this.fill > 0) this.ready.push(this.seal());
    await this.drain();
    const checksum = this.hash.digest();
    await this.write(checksum);
    return checksum;
  }

  /** Reads pending pack bytes into the output: all of them, or whole chunks' worth while at least `min` are left. */
  private materialize(min = 0): void {
    const p = this.pending;
    if (!p) return;
    while (p.end > p.start && p.end - p.start >= min) {
      const n = Math.min(p.end - p.start, CHUNK - this.fill);
      const into = this.buf.subarray(this.fill, this.fill + n);
      p.pack.readAt(into, p.start);
      if (this.trackCrc) this.crc = crc32(into, this.crc);
      p.start += n;
      this.advance(n);
      if (min > 0 && this.ready.length > 0) break;
    }
    if (p.start === p.end) this.pending = null;
  }

  private advance(n: number): void {
    this.fill += n;
    if (this.fill === CHUNK) this.ready.push(this.seal());
  }

  /** The filled part of the buffer, hashed; a fresh buffer takes its place (the sink may keep the chunk queued). */
  private seal(): Buffer {
    const chunk = this.buf.subarray(0, this.fill);
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.fill = 0;
    this.hash.update(chunk);
    return chunk;
  }
}
