/**
 * Reads git objects from loose files and packs in a list of objects dirs (searched in order),
 * and writes loose objects into the first. Synchronous, positional reads, bounded memory.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { writeNewFileDurably } from '../lib/fs-util.ts';
import { ByteLru } from './byte-lru.ts';
import { GitFormatError, hashObject, isObjectType, isOid, objectHeader, type ObjectType } from './objects.ts';
import { openPack, releasePack, type PackFile } from './pack-file.ts';
import { deltaResultSize } from './push-limits.ts';
import { OBJ_OFS_DELTA, OBJ_REF_DELTA, applyDelta, typeName, type EntryHeader } from './pack-format.ts';

export interface GitObject {
  type: ObjectType;
  data: Buffer;
}

/** Where an object sits in a pack, for copying its compressed bytes as they are. */
export interface PackedEntry {
  pack: PackFile;
  offset: number;
  kind: 'full' | 'ofs-delta' | 'ref-delta';
  /** object type, for 'full' */
  type?: ObjectType;
  /** inflated size of the stored data (the object, or the delta instructions) */
  size: number;
  /** the delta's base object, for both delta kinds */
  baseOid?: string;
  /** where the base of an 'ofs-delta' starts in the same pack */
  baseOffset?: number;
  /** the zlib stream after the entry header */
  rawStart: number;
  rawEnd: number;
}

const DEFAULT_CACHE_BYTES = 32 << 20;
/** Longer chains than this in a stored pack mean a ref-delta cycle. */
const MAX_CHAIN = 10_000;

/**
 * Bumped whenever objects leave a repo (gc removing packs and loose files, in this process): a
 * store that then misses an object rescans before concluding it is absent, as git's
 * `reprepare_packed_git` does, because what it opened or listed may have moved to a new pack.
 */
let removals = 0;

export function noteObjectsRemoved(): void {
  removals++;
}

interface Location {
  pack: PackFile;
  packId: number;
  offset: number;
}

export class ObjectStore {
  /** `path`: where this store found the pack's idx (a shared pack may have been opened elsewhere) */
  private packs: Array<{ pack: PackFile; id: number; path: string }> = [];
  private nextPackId = 0;
  /** Per objects dir, the fan-out dirs (`ab/`) that exist: most lookups of a packed repo then need no syscall. */
  private looseDirs: Array<Set<string>> = [];
  /** Resolved delta bases, keyed by pack id and offset. */
  private readonly cache: ByteLru<number, GitObject>;
  /** `removals` at the last refresh */
  private seenRemovals = -1;
  /** The raw oid being looked up (lookups are synchronous: one buffer serves them all). */
  private readonly scratch = Buffer.alloc(20);

  constructor(
    private readonly objectDirs: string[],
    /** deferScan: the caller calls refresh() before its first lookup (upload-pack does, once it has read the refs) */
    opts: { cacheBytes?: number; deferScan?: boolean } = {},
  ) {
    if (objectDirs.length === 0) throw new Error('ObjectStore needs at least one objects dir');
    this.cache = new ByteLru(opts.cacheBytes ?? DEFAULT_CACHE_BYTES, (o) => o.data.length);
    // Unscanned, a lookup misses and retryOnMiss scans (seenRemovals is -1 until the first scan).
    if (!opts.deferScan) this.refresh();
  }

  /** Rescans `pack/*.idx` in every dir: opens new packs. */
  refresh(): void {
    this.seenRemovals = removals;
    this.looseDirs = this.objectDirs.map((dir) => {
      try {
        return new Set(readdirSync(dir).filter((n) => /^[0-9a-f]{2}$/.test(n)));
      } catch {
        return new Set<string>();
      }
    });
    const known = new Map(this.packs.map((p) => [p.path, p]));
    const next: typeof this.packs = [];
    for (const dir of this.objectDirs) {
      const packDir = join(dir, 'pack');
      let names: string[];
      try {
        names = readdirSync(packDir).filter((n) => n.endsWith('.idx')).sort();
      } catch {
        continue; // no pack dir yet
      }
      for (const name of names) {
        const idxPath = join(packDir, name);
        const existing = known.get(idxPath);
        if (existing) {
          next.push(existing);
          known.delete(idxPath);
          continue;
        }
        try {
          next.push({ pack: openPack(idxPath), id: this.nextPackId++, path: idxPath });
        } catch (err) {
          // A pack being deleted under us is skipped; anything else is a real problem.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
    // A vanished pack stays open (searched last) until close(): entries taken from it may still be
    // copied, and its file lives on while open, so what this store could read it still can.
    for (const gone of known.values()) next.push(gone);
    this.packs = next;
  }

  close(): void {
    for (const p of this.packs) releasePack(p.pack);
    this.packs = [];
    this.cache.clear();
  }

  has(oid: string): boolean {
    return this.retryOnMiss(() => (this.locate(oid) !== undefined || this.loosePath(oid) !== undefined ? true : null)) ?? false;
  }

  /** The object, or null if absent. Its data may be shared with the cache: never modify it. */
  read(oid: string): GitObject | null {
    return this.retryOnMiss(() => {
      const loc = this.locate(oid);
      if (loc) return this.readPacked(loc);
      return this.readLoose(oid);
    });
  }

  /**
   * The object's type, from the entry headers down its delta chain: nothing is inflated or
   * cached (a push checks hundreds of tips this way). Null if absent.
   */
  typeOf(oid: string): ObjectType | null {
    return this.retryOnMiss(() => {
      let loc = this.locate(oid);
      if (!loc) return this.readLoose(oid)?.type ?? null;
      for (let hops = 0; hops <= MAX_CHAIN; hops++) {
        const h: EntryHeader = loc.pack.header(loc.offset);
        if (h.code !== OBJ_OFS_DELTA && h.code !== OBJ_REF_DELTA) return typeName(h.code)!;
        const next = this.deltaBase(loc, h);
        if (!next) return this.readLoose(h.baseOid!)?.type ?? null;
        loc = next;
      }
      throw new GitFormatError(`delta chain of ${oid} does not end`);
    });
  }

  /** read() of the oid at bytes [at, at + 20) of `src` (a tree entry): no hex string when it is packed. */
  readRaw(src: Uint8Array, at: number): GitObject | null {
    const loc = this.packs.length > 0 ? this.locateRaw(src, at) : undefined;
    if (loc) return this.readPacked(loc);
    return this.read(Buffer.from(src.buffer, src.byteOffset + at, 20).toString('hex'));
  }

  packedEntry(oid: string): PackedEntry | null {
    return this.retryOnMiss(() => {
      const loc = this.locate(oid);
      return loc ? packedEntryAt(loc.pack, loc.offset) : null;
    });
  }

  /** A miss after objects were removed somewhere may be an object a gc moved: look again once. */
  private retryOnMiss<T>(lookup: () => T | null): T | null {
    const found = lookup();
    if (found !== null || this.seenRemovals === removals) return found;
    this.refresh();
    return lookup();
  }

  /**
   * The object's inflated size, from its entry header (a delta's from the delta's own header),
   * without inflating a packed full object; null if absent.
   */
  size(oid: string): number | null {
    const e = this.packedEntry(oid);
    if (!e) return this.readLoose(oid)?.data.length ?? null;
    if (e.kind === 'full') return e.size;
    const { h, raw } = e.pack.entry(e.offset);
    const size = deltaResultSize(e.pack.inflateRaw(e.offset, h, raw));
    if (size === null) throw new GitFormatError(`${e.pack.idxPath}: delta at ${e.offset} has a truncated header`);
    return size;
  }

  writeLoose(type: ObjectType, data: Buffer): string {
    const oid = hashObject(type, data);
    if (this.has(oid)) return oid;
    const dir = join(this.objectDirs[0]!, oid.slice(0, 2));
    mkdirSync(dir, { recursive: true });
    this.looseDirs[0]?.add(oid.slice(0, 2));
    const tmp = join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`);
    const body = deflateSync(Buffer.concat([objectHeader(type, data.length), data]), { level: 1 });
    try {
      writeNewFileDurably(tmp, body, 0o444);
      renameSync(tmp, join(dir, oid.slice(2)));
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return oid;
  }

  private locate(oid: string): Location | undefined {
    if (this.packs.length === 0 || !isOid(oid)) return undefined;
    this.scratch.write(oid, 'hex');
    return this.locateRaw(this.scratch, 0);
  }

  /** The pack entry of the oid at bytes [at, at + 20) of `src`. */
  private locateRaw(src: Uint8Array, at: number): Location | undefined {
    for (const { pack, id } of this.packs) {
      const offset = pack.offsetOf(src, at);
      if (offset >= 0) return { pack, packId: id, offset };
    }
    return undefined;
  }

  private loosePath(oid: string): string | undefined {
    if (!this.looseDirs.some((d) => d.size > 0) || !isOid(oid)) return undefined;
    const fan = oid.slice(0, 2);
    for (let i = 0; i < this.objectDirs.length; i++) {
      if (!this.looseDirs[i]!.has(fan)) continue;
      const path = join(this.objectDirs[i]!, fan, oid.slice(2));
      if (existsSync(path)) return path;
    }
    return undefined;
  }

  private readLoose(oid: string): GitObject | null {
    const path = this.loosePath(oid);
    if (!path) return null;
    let raw: Buffer;
    try {
      raw = inflateSync(readFileSync(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // removed meanwhile
      throw new GitFormatError(`loose object ${oid} is corrupt (${(err as Error).message})`);
    }
    const nul = raw.indexOf(0);
    const m = nul > 0 ? /^([a-z]+) (\d+)$/.exec(raw.toString('latin1', 0, nul)) : null;
    if (!m || !isObjectType(m[1]!) || Number(m[2]) !== raw.length - nul - 1) {
      throw new GitFormatError(`loose object ${oid} has a malformed header`);
    }
    return { type: m[1], data: raw.subarray(nul + 1) };
  }

  /** Where the base of the delta at `loc` is stored: null for a REF_DELTA base that is in no pack (maybe loose). */
  private deltaBase(loc: Location, h: EntryHeader): Location | null {
    if (h.code === OBJ_OFS_DELTA) return { ...loc, offset: loc.offset - h.baseDistance! };
    return this.locate(h.baseOid!) ?? null;
  }

  /** Walks the delta chain down to a full or cached object, then applies the deltas back up. */
  private readPacked(start: Location): GitObject {
    const chain: Array<{ loc: Location; h: EntryHeader; raw: Buffer }> = [];
    let loc = start;
    let base: GitObject | undefined;
    let baseLoc: Location | undefined;
    while (!base) {
      if (chain.length > MAX_CHAIN) throw new GitFormatError(`delta chain at ${start.pack.idxPath}:${start.offset} does not end`);
      const cached = this.cache.get(cacheKey(loc));
      if (cached) {
        base = cached;
        break;
      }
      const { h, raw } = loc.pack.entry(loc.offset);
      if (h.code !== OBJ_OFS_DELTA && h.code !== OBJ_REF_DELTA) {
        base = { type: typeName(h.code)!, data: loc.pack.inflateRaw(loc.offset, h, raw) };
        baseLoc = loc;
        break;
      }
      chain.push({ loc, h, raw });
      const next = this.deltaBase(loc, h);
      if (next) {
        loc = next;
        continue;
      }
      const loose = this.readLoose(h.baseOid!);
      if (!loose) throw new GitFormatError(`delta base ${h.baseOid} of ${loc.pack.idxPath}:${loc.offset} is missing`);
      base = loose;
    }
    if (chain.length > 0 && baseLoc) this.cache.set(cacheKey(baseLoc), base);
    for (let i = chain.length - 1; i >= 0; i--) {
      const { loc: at, h, raw } = chain[i]!;
      base = { type: base.type, data: applyDelta(base.data, at.pack.inflateRaw(at.offset, h, raw)) };
      if (i > 0) this.cache.set(cacheKey(at), base); // it is the base of the next link
    }
    return base;
  }
}

/** The stored entry at `offset` of `pack`, as writePack copies it. */
export function packedEntryAt(pack: PackFile, offset: number): PackedEntry {
  return new StoredEntry(pack, offset);
}

/**
 * A PackedEntry read from its header. An OFS_DELTA's base oid (a search of the pack's offset
 * order and a hex string) is found when first asked for: writePack finds a written base by its
 * offset, and a full clone copies ~80k deltas.
 */
class StoredEntry implements PackedEntry {
  readonly kind: PackedEntry['kind'];
  readonly type: ObjectType | undefined;
  readonly size: number;
  readonly rawStart: number;
  readonly rawEnd: number;
  readonly baseOffset: number | undefined;
  private base: string | undefined;

  constructor(
    readonly pack: PackFile,
    readonly offset: number,
  ) {
    const h = pack.header(offset);
    this.size = h.size;
    this.rawStart = offset + h.length;
    this.rawEnd = pack.entryEnd(offset);
    this.kind = h.code === OBJ_OFS_DELTA ? 'ofs-delta' : h.code === OBJ_REF_DELTA ? 'ref-delta' : 'full';
    this.type = typeName(h.code);
    this.baseOffset = h.code === OBJ_OFS_DELTA ? offset - h.baseDistance! : undefined;
    this.base = h.baseOid;
  }

  get baseOid(): string | undefined {
    if (this.base === undefined && this.baseOffset !== undefined) {
      this.base = this.pack.oidAtOffset(this.baseOffset);
      if (this.base === undefined) throw new GitFormatError(`${this.pack.idxPath}: delta at ${this.offset} points to no entry`);
    }
    return this.base;
  }
}

function cacheKey(loc: Location): number {
  return loc.packId * 2 ** 40 + loc.offset;
}
