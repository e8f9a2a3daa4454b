import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../lib/fs-util.ts';
import { PathEscapeError, resolveInside } from '../lib/paths.ts';

export const ZERO_OID = '0'.repeat(40);
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

export function readRef(gitDir: string, ref: string): string | null {
  return listRefs(gitDir).get(ref) ?? null;
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
  private locks: { change: RefChange; lockPath: string; fd: number }[] = [];
  private done = false;

  constructor(private readonly gitDir: string) {}

  /** Locks one ref and checks its current value; throws RefUpdateError with a pusher-facing reason. */
  lock(change: RefChange): void {
    const file = refPath(this.gitDir, change.ref);
    const lockPath = `${file}.lock`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
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
    this.locks.push({ change, lockPath, fd });
    const current = readRef(this.gitDir, change.ref) ?? ZERO_OID;
    if (current !== change.old) {
      this.release(change.ref);
      throw new RefUpdateError(change.old === ZERO_OID ? 'ref already exists' : 'stale info (the ref moved; fetch first)');
    }
  }

  /** Moves every locked ref to its new value. Deletions also drop the ref from packed-refs. */
  commit(): void {
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
