/** Phase 3 of indexing (pack-indexer.ts): the final pack and its idx, written durably. */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, fsync, linkSync, openSync, promises as fsPromises, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, deflateSync } from 'node:zlib';
import type { EntryTable } from './entry-table.ts';
import type { ObjectStore } from './object-store.ts';
import type { OidTable } from './oid-table.ts';
import { DEFLATE_LEVEL, encodeEntryHeader, encodeIdx, typeCode } from './pack-format.ts';
import type { IndexPackOptions, IndexPackResult } from './pack-indexer.ts';
import { readFully } from './pack-reading.ts';

const COPY_CHUNK = 4 << 20;

/** What phase 3 needs of an indexed pack. */
export interface IndexedPack {
  readonly t: EntryTable;
  readonly oids: OidTable;
  /** appended thin-pack bases, by entry index */
  readonly external: Set<number>;
  /** objects the received pack holds, as its header says */
  readonly count: number;
  /** the received pack's length, trailer included */
  readonly size: number;
  oidHex(i: number): string;
}

/** Phase 3: the final pack (linked, copied, or rewritten with thin bases appended) and its idx. */
export async function writeOutput(packPath: string, fd: number, pack: IndexedPack, trailer: Buffer, opts: IndexPackOptions): Promise<IndexPackResult> {
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
async function writeCompletedPack(fd: number, pack: IndexedPack, tmpPack: string, store: ObjectStore): Promise<Buffer> {
  const { t } = pack;
  const out = openSync(tmpPack, 'wx', 0o644);
  try {
    const hash = createHash('sha1');
    const emit = (b: Buffer) => {
      hash.update(b);
      writeFully(out, b);
    };
    const chunk = Buffer.allocUnsafe(COPY_CHUNK);
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

async function buildIdx(pack: IndexedPack, checksum: Buffer): Promise<{ idx: Buffer; oids: Buffer }> {
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
