/**
 * `git gc` for a bare repo: objects that refs (and whatever the caller keeps alive) reach go into
 * one pack, stored deltas kept; unreachable objects younger than the grace period go into a cruft
 * pack that records each object's age (`.mtimes`, git's own format); older ones are dropped.
 *
 * Readers are never cut off: the new packs are complete and durable before anything is removed,
 * an `.idx` appears last and goes first, a session holding an old pack open keeps reading it (its
 * file lives on until closed), and a store that misses an object after a gc looks again
 * (`noteObjectsRemoved`). A kill at any moment leaves the old packs, the new ones, or both.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { listDir, writeNewFileDurably } from '../lib/fs-util.ts';
import { noteObjectsRemoved, ObjectStore, packedEntryAt, type GitObject, type PackedEntry } from './object-store.ts';
import { GitFormatError, isOid, parseCommit, parseTag, treeLinks } from './objects.ts';
import { PackFile } from './pack-file.ts';
import { encodeIdx } from './pack-format.ts';
import { writePack } from './pack-writer.ts';
import { pinnedObjects } from './pins.ts';
import { listRefs } from './refs.ts';

export interface GcOptions {
  /** unreachable objects younger than this are kept */
  graceMs: number;
  /** commits slipway still needs that refs may not reach (kept releases, a deploy under way) */
  keepAlive: () => string[];
}

export interface GcResult {
  /** false: there was nothing to do (one pack, no loose objects, nothing to drop) */
  changed: boolean;
  packsBefore: number;
  looseBefore: number;
  bytesBefore: number;
  /** objects the roots reach */
  reachable: number;
  /** unreachable objects kept because they are younger than the grace period (or such objects reach them) */
  recent: number;
  dropped: number;
  packsAfter: number;
  bytesAfter: number;
}

/** Another gc holds the repo (`gc.pid`, as native git uses it). */
export class GcBusyError extends Error {
  constructor(gitDir: string, pid: string) {
    super(`a gc of ${path.basename(gitDir)} is already running (pid ${pid})`);
    this.name = 'GcBusyError';
  }
}

/** A ref moved meanwhile to an object this gc would drop: nothing was removed; run it again. */
export class GcRaceError extends Error {
  constructor(oid: string) {
    super(`a ref moved to ${oid.slice(0, 12)} during the gc, which it would have dropped; nothing was removed, run it again`);
    this.name = 'GcRaceError';
  }
}

const YIELD_EVERY = 500;
const MTIMES_MAGIC = 0x4d544d45; // 'MTME'

interface SnapPack {
  idxPath: string;
  pack: PackFile;
  /** seconds; per object for a cruft pack, else the pack file's */
  mtime: number;
  mtimes: Uint32Array | null;
  bytes: number;
}

/** What the objects dir held when the gc started: only these files are ever removed. */
interface Snapshot {
  packs: SnapPack[];
  loose: Map<string, number>;
  /** every packed copy of each object: which pack, which index position */
  copies: Map<string, Array<{ pack: SnapPack; pos: number }>>;
}

/** Counts a repo's packs and loose objects, for deciding whether a gc is due. */
export function objectFileCounts(gitDir: string): { packs: number; loose: number } {
  const objects = path.join(gitDir, 'objects');
  const packs = listDir(path.join(objects, 'pack')).filter((f) => /^pack-[0-9a-f]{40}\.idx$/.test(f)).length;
  let loose = 0;
  for (const fan of listDir(objects)) if (/^[0-9a-f]{2}$/.test(fan)) loose += listDir(path.join(objects, fan)).length;
  return { packs, loose };
}

export async function gc(gitDir: string, opts: GcOptions): Promise<GcResult> {
  const unlock = lockGc(gitDir);
  let work: string | undefined;
  try {
    work = fs.mkdtempSync(path.join(gitDir, 'objects', 'incoming-gc-'));
    return await collect(gitDir, opts, work);
  } finally {
    if (work) fs.rmSync(work, { recursive: true, force: true });
    unlock();
  }
}

/** The gc itself, under the lock; new packs are prepared in `work`. */
async function collect(gitDir: string, opts: GcOptions, work: string): Promise<GcResult> {
  const objects = path.join(gitDir, 'objects');
  const packDir = path.join(objects, 'pack');
  // Snapshot and store in one synchronous step, so both see the same files.
  const snap = snapshot(objects);
  const store = new ObjectStore([objects]);
  try {
    removeOrphans(packDir);
    const cutoff = (Date.now() - opts.graceMs) / 1000;
    const result: GcResult = {
      changed: false,
      packsBefore: snap.packs.length,
      looseBefore: snap.loose.size,
      bytesBefore: snap.packs.reduce((n, p) => n + p.bytes, 0),
      reachable: 0,
      recent: 0,
      dropped: 0,
      packsAfter: snap.packs.length,
      bytesAfter: 0,
    };
    const inSnapshot = (oid: string) => snap.copies.has(oid) || snap.loose.has(oid);

    const roots = currentRoots(gitDir, opts, store, true);
    const reach = await mark(store, roots, new Set(), 'throw');

    // Every unreachable object with its age (the newest of its copies).
    const unreached = new Map<string, number>();
    let n = 0;
    for (const [oid, copies] of snap.copies) {
      if (++n % (YIELD_EVERY * 10) === 0) await yieldToLoop();
      if (reach.all.has(oid)) continue;
      unreached.set(oid, Math.max(...copies.map((c) => (c.pack.mtimes ? c.pack.mtimes[c.pos]! : c.pack.mtime))));
    }
    for (const [oid, t] of snap.loose) if (!reach.all.has(oid) && t > (unreached.get(oid) ?? -1)) unreached.set(oid, t);
    // Young objects are roots too (as `git prune` does): what a recent push or deploy refers to stays with it.
    const young = [...unreached].filter(([, t]) => t > cutoff).map(([oid]) => oid);
    const rescued = await mark(store, young, reach.all, 'skip');
    const dropped = [...unreached.keys()].filter((oid) => !rescued.all.has(oid));

    const regular = snap.packs.filter((p) => !p.mtimes).length;
    if (dropped.length === 0 && snap.loose.size === 0 && regular <= 1 && snap.packs.length - regular <= 1) {
      return { ...result, reachable: reach.all.size, recent: rescued.all.size, bytesAfter: result.bytesBefore };
    }

    const mainOids = reach.ordered().filter(inSnapshot);
    const cruftOids = rescued.ordered().filter(inSnapshot);
    const placed: string[] = [];
    if (mainOids.length) placed.push(...(await writeGcPack(mainOids, store, snap, work, null)));
    if (cruftOids.length) placed.push(...(await writeGcPack(cruftOids, store, snap, work, (oid) => unreached.get(oid)!)));
    const newIdx = new Set<string>();
    for (const files of groupByPack(placed)) {
      const idx = files.find((f) => f.endsWith('.idx'))!;
      newIdx.add(path.join(packDir, idx));
      if (fs.existsSync(path.join(packDir, idx))) continue; // this very pack is there already
      for (const f of files) fs.renameSync(path.join(work, f), path.join(packDir, f)); // .idx last
    }
    fsyncDir(packDir);

    // From here to the end nothing awaits, so no session of this process can move a ref meanwhile.
    const droppedSet = new Set(dropped);
    const kept = (oid: string) => reach.all.has(oid) || rescued.all.has(oid);
    const refsMoved = reachesDropped(store, currentRoots(gitDir, opts, store, false), kept, droppedSet);
    if (refsMoved) throw new GcRaceError(refsMoved);
    const old = snap.packs.filter((p) => !newIdx.has(p.idxPath));
    for (const p of old) fs.rmSync(p.idxPath, { force: true });
    for (const p of old) {
      fs.rmSync(p.idxPath.replace(/\.idx$/, '.mtimes'), { force: true });
      fs.rmSync(p.idxPath.replace(/\.idx$/, '.pack'), { force: true });
    }
    for (const oid of snap.loose.keys()) fs.rmSync(path.join(objects, oid.slice(0, 2), oid.slice(2)), { force: true });
    noteObjectsRemoved();

    const after = listDir(packDir).filter((f) => /^pack-[0-9a-f]{40}\.pack$/.test(f));
    return {
      ...result,
      changed: true,
      reachable: reach.all.size,
      recent: rescued.all.size,
      dropped: dropped.length,
      packsAfter: after.length,
      bytesAfter: after.reduce((s, f) => s + fs.statSync(path.join(packDir, f)).size, 0),
    };
  } finally {
    for (const p of snap.packs) p.pack.close();
    store.close();
  }
}

/** Refs, HEAD when detached, what the caller keeps alive, and what sessions of this process were shown. */
function currentRoots(gitDir: string, opts: GcOptions, store: ObjectStore, strict: boolean): string[] {
  const roots = [...listRefs(gitDir).values()];
  const head = readDetachedHead(gitDir);
  if (head) roots.push(head);
  if (strict) {
    for (const oid of roots) {
      if (!store.has(oid)) throw new GitFormatError(`a ref points to ${oid}, which the repo lacks; repair it first (nothing was changed)`);
    }
  }
  // A release or a pin may name a commit that is gone already (an old release): nothing to keep then.
  const extra = [...opts.keepAlive(), ...pinnedObjects(gitDir)].filter((oid) => isOid(oid) && store.has(oid));
  return [...roots, ...extra];
}

function readDetachedHead(gitDir: string): string | null {
  try {
    const v = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    return isOid(v) ? v : null;
  } catch {
    return null;
  }
}

interface Marked {
  all: Set<string>;
  /** commits, tags, trees, then blobs: the order native git writes a pack in, good for clones */
  ordered(): string[];
}

/**
 * Marks everything `roots` reach, stopping at `stop`. Blobs are marked from their tree entries
 * unread. A missing object: an error (`throw`, the repo is broken and nothing may change) or
 * passed over (`skip`, junk may be incomplete).
 */
async function mark(store: ObjectStore, roots: Iterable<string>, stop: Set<string>, missing: 'throw' | 'skip'): Promise<Marked> {
  const all = new Set<string>();
  const lists = { commit: [] as string[], tag: [] as string[], tree: [] as string[], blob: [] as string[] };
  const stack = [...roots];
  let steps = 0;
  while (stack.length) {
    const oid = stack.pop()!;
    if (all.has(oid) || stop.has(oid)) continue;
    const obj = store.read(oid);
    if (!obj) {
      if (missing === 'throw') throw new GitFormatError(`object ${oid} is reachable but missing; repair the repo first (nothing was changed)`);
      continue;
    }
    all.add(oid);
    lists[obj.type].push(oid);
    for (const link of links(obj)) {
      if (all.has(link.oid) || stop.has(link.oid)) continue;
      if (link.blob) {
        if (!store.has(link.oid)) {
          if (missing === 'throw') throw new GitFormatError(`blob ${link.oid} is reachable but missing; repair the repo first (nothing was changed)`);
          continue;
        }
        all.add(link.oid);
        lists.blob.push(link.oid);
      } else stack.push(link.oid);
    }
    if (++steps % YIELD_EVERY === 0) await yieldToLoop();
  }
  return { all, ordered: () => [...lists.commit, ...lists.tag, ...lists.tree, ...lists.blob] };
}

function links(obj: GitObject): Array<{ oid: string; blob: boolean }> {
  switch (obj.type) {
    case 'commit': {
      const c = parseCommit(obj.data);
      return [c.tree, ...c.parents].map((oid) => ({ oid, blob: false }));
    }
    case 'tree':
      // A submodule's commit lives in another repo.
      return treeLinks(obj.data)
        .filter((e) => e.mode !== '160000')
        .map((e) => ({ oid: e.oid, blob: e.mode !== '40000' }));
    case 'tag':
      return [{ oid: parseTag(obj.data).object, blob: false }];
    default:
      return [];
  }
}

/** Synchronously: whether roots now reach an object this gc would drop (a ref moved to it meanwhile). */
function reachesDropped(store: ObjectStore, roots: string[], kept: (oid: string) => boolean, dropped: Set<string>): string | null {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const oid = stack.pop()!;
    if (seen.has(oid) || kept(oid)) continue;
    if (dropped.has(oid)) return oid;
    seen.add(oid);
    const obj = store.read(oid); // arrived after the snapshot: walk on through it
    if (obj) for (const l of links(obj)) stack.push(l.oid);
  }
  return null;
}

/**
 * Writes `oids` as one pack into `work` (with `.mtimes` when `mtimeOf` is given) and returns its
 * file names, `.idx` last. Each object is copied from the stored copy that is a delta against
 * another object of this pack when there is one, so deltas survive the merge.
 */
async function writeGcPack(
  oids: string[],
  store: ObjectStore,
  snap: Snapshot,
  work: string,
  mtimeOf: ((oid: string) => number) | null,
): Promise<string[]> {
  const members = new Set(oids);
  const entryOf = (oid: string): PackedEntry | null => {
    let full: PackedEntry | null = null;
    for (const { pack: p, pos } of snap.copies.get(oid) ?? []) {
      const e = packedEntryAt(p.pack, p.pack.index.offsetAt(pos));
      if (e.kind !== 'full' && members.has(e.baseOid!)) return e;
      full ??= e.kind === 'full' ? e : null;
    }
    return full;
  };
  const tmp = path.join(work, `tmp_gc_${randomBytes(6).toString('hex')}.pack`);
  const written: Array<{ oid: string; offset: number; crc: number }> = [];
  const fh = await fs.promises.open(tmp, 'wx', 0o444);
  let checksum: Buffer;
  try {
    // The idx is built from what was written: every entry is a stored one copied as it is (or an
    // object read whole), so a second pass that inflates and hashes everything would learn nothing.
    const onEntry = (oid: string, offset: number, crc: number) => void written.push({ oid, offset, crc });
    checksum = await writePack(oids, store, async (chunk) => void (await fh.write(chunk)), { ofsDelta: true, entryOf, onEntry });
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (written.length !== oids.length) throw new Error(`gc wrote ${written.length} objects of ${oids.length}`);
  written.sort((a, b) => (a.oid < b.oid ? -1 : 1));
  const idx = encodeIdx(
    { count: written.length, copyOid: (k, out, at) => void out.write(written[k]!.oid, at, 20, 'hex'), crc: (k) => written[k]!.crc, offset: (k) => written[k]!.offset },
    checksum,
  );
  const base = `pack-${checksum.toString('hex')}`;
  fs.renameSync(tmp, path.join(work, `${base}.pack`));
  writeNewFileDurably(path.join(work, `${base}.idx`), idx, 0o444);
  new PackFile(path.join(work, `${base}.idx`)).close(); // count and checksum agree with the pack
  if (!mtimeOf) return [`${base}.pack`, `${base}.idx`];
  writeMtimes(path.join(work, `${base}.mtimes`), written.map((e) => mtimeOf(e.oid)), checksum);
  return [`${base}.pack`, `${base}.mtimes`, `${base}.idx`];
}

/** gitformat-pack's `.mtimes`: 'MTME', version 1, SHA-1, one u32 per object in index order, pack checksum, own checksum. */
function writeMtimes(file: string, mtimes: number[], packChecksum: Buffer): void {
  const body = Buffer.alloc(12 + 4 * mtimes.length);
  body.writeUInt32BE(MTIMES_MAGIC, 0);
  body.writeUInt32BE(1, 4);
  body.writeUInt32BE(1, 8);
  mtimes.forEach((t, i) => body.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(t))), 12 + 4 * i));
  const head = Buffer.concat([body, packChecksum]);
  const fd = fs.openSync(file, 'wx', 0o444);
  try {
    fs.writeSync(fd, Buffer.concat([head, createHash('sha1').update(head).digest()]));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Per-object ages of a cruft pack, or null when its `.mtimes` is missing or does not fit. */
function readMtimes(file: string, count: number): Uint32Array | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  if (buf.length !== 12 + 4 * count + 40 || buf.readUInt32BE(0) !== MTIMES_MAGIC || buf.readUInt32BE(4) !== 1) return null;
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readUInt32BE(12 + 4 * i);
  return out;
}

function snapshot(objects: string): Snapshot {
  const packDir = path.join(objects, 'pack');
  const packs: SnapPack[] = [];
  for (const f of listDir(packDir).filter((f) => /^pack-[0-9a-f]{40}\.idx$/.test(f)).sort()) {
    const idxPath = path.join(packDir, f);
    let pack: PackFile;
    try {
      pack = new PackFile(idxPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const st = fs.statSync(idxPath.replace(/\.idx$/, '.pack'));
    packs.push({ idxPath, pack, mtime: st.mtimeMs / 1000, bytes: st.size, mtimes: readMtimes(idxPath.replace(/\.idx$/, '.mtimes'), pack.index.count) });
  }
  const loose = new Map<string, number>();
  for (const fan of listDir(objects)) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    for (const f of listDir(path.join(objects, fan))) {
      if (!/^[0-9a-f]{38}$/.test(f)) continue;
      try {
        loose.set(fan + f, fs.statSync(path.join(objects, fan, f)).mtimeMs / 1000);
      } catch {
        /* removed meanwhile */
      }
    }
  }
  const copies: Snapshot['copies'] = new Map();
  for (const p of packs) {
    for (let pos = 0; pos < p.pack.index.count; pos++) {
      const oid = p.pack.index.oidAt(pos);
      const list = copies.get(oid);
      if (list) list.push({ pack: p, pos });
      else copies.set(oid, [{ pack: p, pos }]);
    }
  }
  return { packs, loose, copies };
}

/** Leftovers of a kill in the middle of removing a pack: data or ages without their index. */
function removeOrphans(packDir: string): void {
  const names = new Set(listDir(packDir));
  for (const f of names) {
    const m = /^(pack-[0-9a-f]{40})\.(pack|mtimes)$/.exec(f);
    if (m && !names.has(`${m[1]}.idx`)) fs.rmSync(path.join(packDir, f), { force: true });
  }
}

/** [[a.pack, a.idx], [b.pack, b.mtimes, b.idx]] from the flat list, order kept. */
function groupByPack(files: string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const key = f.replace(/\.[a-z]+$/, '');
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups.values()];
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * `gc.pid` as native git writes it (`<pid> <host>`), taken with O_EXCL: one gc per repo, native
 * or ours. A pid that no longer runs on this host is stale and taken over.
 */
function lockGc(gitDir: string): () => void {
  const file = path.join(gitDir, 'gc.pid');
  const mine = `${process.pid} ${os.hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx' });
      return () => {
        if (readText(file) === mine) fs.rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const [pid, host] = (readText(file) ?? '').split(' ');
      if (pid && host === os.hostname() && running(Number(pid))) throw new GcBusyError(gitDir, pid);
      fs.rmSync(file, { force: true });
    }
  }
  throw new GcBusyError(gitDir, '?');
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
