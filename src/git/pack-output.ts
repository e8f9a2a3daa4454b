/** Phase 3 of indexing (pack-indexer.ts): the final pack and its idx, written durably. */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, fsync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { crc32, deflateSync } from 'node:zlib';
import type { EntryTable } from './entry-table.ts';
import type { ObjectStore } from './object-store.ts';
import type { OidTable } from './oid-table.ts';
import { DEFLATE_LEVEL, emitIdx, encodeEntryHeader, typeCode, type IdxEntries } from './pack-format.ts';
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
    const idx = await sortedEntries(pack);
    const result = { packFile: `${name}.pack`, idxFile: `${name}.idx`, objectCount: pack.count + pack.external.size, appendedBases: pack.external.size };
    if (existsSync(result.idxFile)) {
      rmSync(tmpPack); // this very pack is stored already
      return result;
    }
    await writeIdxDurably(tmpIdx, idx, checksum);
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
      t.setOffset(i, offset);
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

/** The pack's entries in oid order, as the idx lists them. */
async function sortedEntries(pack: IndexedPack): Promise<IdxEntries> {
  const { t, oids: table } = pack;
  // The received entries, and the thin bases appended that the pack did not turn out to hold.
  const n = pack.count + pack.external.size;
  const members = new Int32Array(n);
  for (let i = 0; i < pack.count; i++) members[i] = i;
  let m = pack.count;
  for (const i of pack.external) members[m++] = i;
  // Entries by their id's first byte (a counting sort), then each bucket sorted, yielding in
  // between: one sort of a big pack would hold the event loop (and every other session).
  const firstByte = (i: number) => table.key(t.key[i]!)[0]!;
  const start = new Int32Array(257);
  for (const i of members) start[firstByte(i) + 1]!++;
  for (let b = 1; b <= 256; b++) start[b]! += start[b - 1]!;
  const order = new Int32Array(n);
  const fill = start.slice(0, 256);
  for (const i of members) order[fill[firstByte(i)]!++] = i;
  for (let b = 0; b < 256; b++) {
    const bucket = order.subarray(start[b]!, start[b + 1]!);
    bucket.sort((x, y) => table.compare(t.key[x]!, t.key[y]!));
    if (bucket.length > 1000) await yieldToLoop();
  }
  return { count: n, copyOid: (k, out, at) => void table.key(t.key[order[k]!]!).copy(out, at), crc: (k) => t.crc[order[k]!]!, offset: (k) => t.offset(order[k]!) };
}

/** fsync on libuv's thread pool: flushing a big pack can take seconds on a busy disk, and the event loop serves other sessions meanwhile. */
function fsyncOffLoop(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** A new read-only idx file, written a piece at a time and fsynced off the event loop. */
async function writeIdxDurably(file: string, entries: IdxEntries, checksum: Buffer): Promise<void> {
  const fd = openSync(file, 'wx', 0o444);
  try {
    emitIdx(entries, checksum, (piece) => writeFully(fd, piece));
    await fsyncOffLoop(fd);
  } finally {
    closeSync(fd);
  }
}

function writeFully(fd: number, buf: Buffer): void {
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
}
