import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../lib/fs-util.ts';
import { PathEscapeError, resolveInside } from '../lib/paths.ts';

export const ZERO_OID = '0'.repeat(40);
/** More ref updates than this in one push are written to packed-refs at once. */
const PACK_REFS_ABOVE = 16;
const OID_RE = /^[0-9a-f]{40}$/;

export class RefUpdateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefUpdateError';
  }
}

/** All refs of a bare repo (loose refs override packed-refs), sorted by name. */
export function listRefs(gitDir: string): Map<string, string> {
  const refs = new Map<string, string>();
  const packed = path.join(gitDir, 'packed-refs');
  if (fs.existsSync(packed)) {
    for (const line of fs.readFileSync(packed, 'utf8').split('\n')) {
      const m = /^([0-9a-f]{40}) (refs\/\S+)$/.exec(line);
      if (m) refs.set(m[2]!, m[1]!);
    }
  }
  walkLoose(gitDir, 'refs', refs);
  return new Map([...refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function walkLoose(gitDir: string, rel: string, out: Map<string, string>): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(gitDir, rel), { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const name = `${rel}/${e.name}`;
    if (e.isDirectory()) walkLoose(gitDir, name, out);
    else if (e.isFile() && !e.name.endsWith('.lock')) {
      const v = fs.readFileSync(path.join(gitDir, name), 'utf8').trim();
      if (OID_RE.test(v)) out.set(name, v);
    }
  }
}

/** The loose file of `ref`; throws PathEscapeError for anything that would not stay under the repo's `refs/`. */
export function refPath(gitDir: string, ref: string): string {
  const refsDir = path.join(gitDir, 'refs');
  if (!ref.startsWith('refs/')) throw new PathEscapeError(refsDir, [ref]);
  return resolveInside(refsDir, ref.slice('refs/'.length));
}

/** A plain unlink: rmSync's walk (an lstat first) per file doubles the cost of a push of thousands of refs. */
function unlinkIfThere(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function readPackedRefs(gitDir: string): Map<string, string> {
  const refs = new Map<string, string>();
  let text: string;
  try {
    text = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
  } catch {
    return refs;
  }
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{40}) (refs\/\S+)$/.exec(line);
    if (m) refs.set(m[2]!, m[1]!);
  }
  return refs;
}

/** One ref: its loose file, else its packed-refs line (not a walk of every ref: a push locks hundreds). */
export function readRef(gitDir: string, ref: string): string | null {
  try {
    const v = fs.readFileSync(path.join(gitDir, ref), 'utf8').trim();
    if (OID_RE.test(v)) return v;
  } catch {
    /* not loose */
  }
  let text: string;
  try {
    text = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
  } catch {
    return null;
  }
  const at = text.indexOf(` ${ref}\n`);
  const line = at >= 40 ? text.slice(at - 40, at + ref.length + 1) : '';
  return at >= 40 && (at === 40 || text[at - 41] === '\n') && OID_RE.test(line.slice(0, 40)) ? line.slice(0, 40) : null;
}

/** Target of HEAD when it is a symbolic ref (`ref: refs/heads/main`). */
export function readHeadTarget(gitDir: string): string | null {
  try {
    const m = /^ref: (refs\/\S+)/.exec(fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8'));
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

export function writeHead(gitDir: string, target: string): void {
  writeFileAtomic(path.join(gitDir, 'HEAD'), `ref: ${target}\n`);
}

export interface RefChange {
  ref: string;
  /** ZERO_OID: the ref must not exist */
  old: string;
  /** ZERO_OID: delete the ref */
  new: string;
}

/**
 * A set of refs locked with git's `.lock` protocol: taken with O_EXCL so a second writer (another
 * push, or native git) fails instead of interleaving, and verified against the expected old values.
 */
export class RefTransaction {
  private locks: { change: RefChange; lockPath: string; fd: number; loose?: boolean }[] = [];
  private done = false;
  /** packed-refs, read once per transaction: a push of thousands of refs must not read it once per ref. */
  private packed: Map<string, string> | null = null;
  /** for each prefix of a packed ref's name, the first packed ref below it (D/F checks without a scan per ref) */
  private packedBelow: Map<string, string> | null = null;

  constructor(private readonly gitDir: string) {}

  /** Locks one ref and checks its current value; throws RefUpdateError with a pusher-facing reason. */
  lock(change: RefChange): void {
    const file = refPath(this.gitDir, change.ref);
    const lockPath = `${file}.lock`;
    if (change.new !== ZERO_OID) this.checkNameConflicts(change.ref, file);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR') throw new RefUpdateError(`cannot lock ref '${change.ref}': a file is in the way`);
      throw err;
    }
    let fd: number;
    try {
      fd = fs.openSync(lockPath, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new RefUpdateError('another push is updating this ref; try again');
      }
      if ((err as NodeJS.ErrnoException).code === 'EISDIR' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new RefUpdateError('ref name conflicts with an existing ref');
      }
      throw err;
    }
    const lock = { change, lockPath, fd, loose: false };
    this.locks.push(lock);
    const current = this.currentValue(change.ref, lock);
    if (current !== change.old) {
      this.release(change.ref);
      throw new RefUpdateError(change.old === ZERO_OID ? 'ref already exists' : 'stale info (the ref moved; fetch first)');
    }
  }

  private currentValue(ref: string, lock: { loose: boolean }): string {
    try {
      const v = fs.readFileSync(path.join(this.gitDir, ref), 'utf8').trim();
      lock.loose = true;
      if (OID_RE.test(v)) return v;
    } catch {
      /* not loose */
    }
    return this.packedNames().get(ref) ?? ZERO_OID;
  }

  /**
   * git's D/F rule (refs.c refs_verify_refname_available): `refs/heads/a` and `refs/heads/a/b`
   * cannot both exist, as loose files they cannot, and packed they would confuse every reader.
   * Checked against loose and packed refs and against the other refs of this transaction, with
   * git's wording. An empty directory left where the ref goes (by deleted refs below it) is removed.
   */
  private checkNameConflicts(ref: string, file: string): void {
    const packed = this.packedNames();
    for (let slash = ref.indexOf('/', 'refs/'.length); slash >= 0; slash = ref.indexOf('/', slash + 1)) {
      const prefix = ref.slice(0, slash);
      if (this.locks.some((l) => l.change.ref === prefix)) throw new RefUpdateError(`cannot process '${ref}' and '${prefix}' at the same time`);
      if (isFile(path.join(this.gitDir, prefix)) || packed.has(prefix)) throw new RefUpdateError(`'${prefix}' exists; cannot create '${ref}'`);
    }
    const below = `${ref}/`;
    const other = this.locks.find((l) => l.change.ref.startsWith(below));
    if (other) throw new RefUpdateError(`cannot process '${ref}' and '${other.change.ref}' at the same time`);
    const loose = firstLooseRef(file, ref);
    const existing = loose ?? this.firstPackedBelow(ref);
    if (existing) throw new RefUpdateError(`'${existing}' exists; cannot create '${ref}'`);
    if (isDirectory(file)) removeEmptyDirs(file);
    if (isDirectory(file)) throw new RefUpdateError('another push is creating refs below this one; try again');
  }

  /** The names in packed-refs, read once per transaction (a push may lock thousands of refs). */
  private packedNames(): Map<string, string> {
    this.packed ??= readPackedRefs(this.gitDir);
    return this.packed;
  }

  private firstPackedBelow(ref: string): string | undefined {
    if (!this.packedBelow) {
      this.packedBelow = new Map();
      for (const name of [...this.packedNames().keys()].sort()) {
        for (let slash = name.indexOf('/', 'refs/'.length); slash >= 0; slash = name.indexOf('/', slash + 1)) {
          const prefix = name.slice(0, slash);
          if (!this.packedBelow.has(prefix)) this.packedBelow.set(prefix, name);
        }
      }
    }
    return this.packedBelow.get(ref);
  }

  /**
   * Moves every locked ref to its new value. Deletions also drop the ref from packed-refs. Many
   * updates at once (a whole history's tags) go into packed-refs in one durable write instead of
   * one fsync'd file each.
   */
  commit(): void {
    if (this.manyUpdates() && this.writePacked()) return this.dropLocks(this.locks.length);
    this.commitLoose();
  }

  /** commit(), pausing now and then while the locks of thousands of refs go, so other sessions are served. */
  async commitPausing(pause: () => Promise<unknown>): Promise<void> {
    if (!(this.manyUpdates() && this.writePacked())) return this.commitLoose();
    while (this.locks.length > 0) {
      this.dropLocks(64);
      await pause();
    }
  }

  private manyUpdates(): boolean {
    return this.locks.filter((l) => l.change.new !== ZERO_OID).length > PACK_REFS_ABOVE;
  }

  private commitLoose(): void {
    for (const l of this.locks) {
      if (l.change.new === ZERO_OID) continue;
      fs.writeSync(l.fd, `${l.change.new}\n`);
      fs.fsyncSync(l.fd);
    }
    const deletes = this.locks.filter((l) => l.change.new === ZERO_OID).map((l) => l.change.ref);
    if (deletes.length) removeFromPackedRefs(this.gitDir, deletes);
    for (const l of this.locks) {
      fs.closeSync(l.fd);
      const file = l.lockPath.slice(0, -'.lock'.length);
      if (l.change.new === ZERO_OID) {
        fs.rmSync(file, { force: true });
        fs.rmSync(l.lockPath, { force: true });
      } else {
        fs.renameSync(l.lockPath, file);
      }
    }
    this.locks = [];
    this.done = true;
  }

  /** Writes every locked update into packed-refs; false (nothing done) when native git holds packed-refs.lock. */
  private writePacked(): boolean {
    const packed = path.join(this.gitDir, 'packed-refs');
    let lockFd: number;
    try {
      lockFd = fs.openSync(`${packed}.lock`, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      const refs = readPackedRefs(this.gitDir);
      for (const l of this.locks) {
        if (l.change.new === ZERO_OID) refs.delete(l.change.ref);
        else refs.set(l.change.ref, l.change.new);
      }
      // No peeled lines and no header claiming them: git peels tags itself then.
      const body = [...refs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([r, oid]) => `${oid} ${r}\n`);
      writeFileAtomic(packed, body.join(''));
      this.done = true;
      return true;
    } finally {
      fs.closeSync(lockFd);
      fs.rmSync(`${packed}.lock`, { force: true });
    }
  }

  /** After packed-refs holds the updates: loose files of these refs would override it, so they go, then the locks. */
  private dropLocks(count: number): void {
    for (const l of this.locks.splice(0, count)) {
      fs.closeSync(l.fd);
      if (l.loose) unlinkIfThere(l.lockPath.slice(0, -'.lock'.length));
      unlinkIfThere(l.lockPath);
    }
  }

  /** Drops the lock of one ref (its update was refused) so the others can still commit. */
  release(ref: string): void {
    const i = this.locks.findIndex((l) => l.change.ref === ref);
    if (i < 0) return;
    const [l] = this.locks.splice(i, 1);
    fs.closeSync(l!.fd);
    fs.rmSync(l!.lockPath, { force: true });
  }

  /** Releases every lock without changing anything. Safe to call more than once. */
  abort(): void {
    for (const l of this.locks) {
      try {
        fs.closeSync(l.fd);
      } catch {
        /* already closed */
      }
      fs.rmSync(l.lockPath, { force: true });
    }
    this.locks = [];
    this.done = true;
  }

  get finished(): boolean {
    return this.done;
  }
}

function isFile(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
}

function isDirectory(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** The first ref file (not a lock) below the directory `dir` of ref `ref`, as a ref name; null if none or not a directory. */
function firstLooseRef(dir: string, ref: string): string | null {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return null;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.isDirectory()) {
      const found = firstLooseRef(path.join(dir, e.name), `${ref}/${e.name}`);
      if (found) return found;
    } else if (!e.name.endsWith('.lock')) return `${ref}/${e.name}`;
  }
  return null;
}

/** Removes a tree of empty directories; anything else in it (another push's lock) stays, and so does its path. */
function removeEmptyDirs(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeEmptyDirs(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    /* not empty */
  }
}

function removeFromPackedRefs(gitDir: string, refs: string[]): void {
  const packed = path.join(gitDir, 'packed-refs');
  if (!fs.existsSync(packed)) return;
  const lines = fs.readFileSync(packed, 'utf8').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^[0-9a-f]{40} (\S+)$/.exec(line);
    if (m && refs.includes(m[1]!)) {
      if (lines[i + 1]?.startsWith('^')) i++; // its peeled line goes too
      continue;
    }
    out.push(line);
  }
  writeFileAtomic(packed, out.join('\n'));
}
