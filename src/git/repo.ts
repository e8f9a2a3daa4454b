import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { UserError } from '../lib/errors.ts';
import { listDir, writeFileAtomic } from '../lib/fs-util.ts';
import { readHeadTarget, writeHead } from './refs.ts';
import { printable } from '../lib/text.ts';
import { resolveInside } from '../lib/paths.ts';

const REPO_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Longer names cannot be configured anyway (`repos/<name>.yml` must fit a file name). */
const MAX_REPO_NAME = 200;

// isomorphic-git writes ignorecase=true and filemode=false; on Linux native git needs these values.
const BARE_CONFIG = `[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = true
\tlogallrefupdates = false
`;

/** Where a repo's bare git dir lives inside the data dir. */
export function gitDirFor(dataDir: string, repo: string): string {
  return resolveInside(path.join(dataDir, 'repos'), `${repo}.git`);
}

/**
 * Turns the path a git client sends (`'/myapp.git'`, `~/myapp`, `myapp/`) into a repo name, or
 * refuses it. Only a single plain name is accepted, so nothing can point outside the data dir.
 */
export function repoNameFromPath(clientPath: string): string {
  let p = clientPath.trim();
  if (p.startsWith('~/')) p = p.slice(2);
  p = p.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p.endsWith('.git')) p = p.slice(0, -4);
  if (!REPO_NAME_RE.test(p) || p.includes('..') || p.length > MAX_REPO_NAME) {
    throw new UserError(`invalid repository path '${printable(clientPath)}' (expected a repo name such as 'myapp')`);
  }
  return p;
}

/** Creates the bare repo if missing, with HEAD on `defaultBranch`; fixes HEAD when it points at an unconfigured branch. */
export async function ensureBareRepo(gitDir: string, defaultBranch: string, configuredBranches: string[]): Promise<void> {
  if (!fs.existsSync(path.join(gitDir, 'objects'))) {
    fs.mkdirSync(gitDir, { recursive: true });
    await git.init({ fs, dir: gitDir, gitdir: gitDir, bare: true, defaultBranch });
    writeFileAtomic(path.join(gitDir, 'config'), BARE_CONFIG);
    fs.mkdirSync(path.join(gitDir, 'objects', 'pack'), { recursive: true });
    fs.mkdirSync(path.join(gitDir, 'refs', 'tags'), { recursive: true });
  }
  const head = readHeadTarget(gitDir);
  const headBranch = head?.startsWith('refs/heads/') ? head.slice('refs/heads/'.length) : null;
  if (headBranch === null || !configuredBranches.includes(headBranch)) writeHead(gitDir, `refs/heads/${defaultBranch}`);
}

/** The branch HEAD should name: main, else master, else the first configured. */
export function defaultBranchOf(branches: string[]): string {
  if (branches.includes('main')) return 'main';
  if (branches.includes('master')) return 'master';
  return branches[0] ?? 'main';
}

/**
 * Leftovers of a killed process: quarantine dirs of pushes that never finished, and ref locks.
 * Only slipway writes these repos, so at start-up none of them can belong to a live writer.
 */
export function cleanStaleState(gitDir: string): string[] {
  const removed: string[] = [];
  const objects = path.join(gitDir, 'objects');
  for (const e of listDir(objects)) {
    if (e.startsWith('incoming-')) {
      fs.rmSync(path.join(objects, e), { recursive: true, force: true });
      removed.push(`objects/${e}`);
    }
  }
  for (const e of listDir(path.join(objects, 'pack'))) {
    if (e.startsWith('tmp_')) {
      fs.rmSync(path.join(objects, 'pack', e), { force: true });
      removed.push(`objects/pack/${e}`);
    }
  }
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(gitDir, rel), { withFileTypes: true })) {
      const r = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(r);
      else if (d.name.endsWith('.lock')) {
        fs.rmSync(path.join(gitDir, r), { force: true });
        removed.push(r);
      }
    }
  };
  if (fs.existsSync(path.join(gitDir, 'refs'))) walk('refs');
  for (const f of ['packed-refs.lock', 'HEAD.lock', 'gc.pid']) {
    if (fs.existsSync(path.join(gitDir, f))) {
      fs.rmSync(path.join(gitDir, f));
      removed.push(f);
    }
  }
  return removed;
}

/** A private objects dir for one push; its objects become visible only through `migrate`. */
export class Quarantine {
  readonly dir: string;

  constructor(gitDir: string) {
    const objects = path.join(gitDir, 'objects');
    this.dir = fs.mkdtempSync(path.join(objects, 'incoming-'));
    fs.mkdirSync(path.join(this.dir, 'pack'));
  }

  get packDir(): string {
    return path.join(this.dir, 'pack');
  }

  /** Moves everything into the repo's objects dir: packs data first, `.idx` last (readers find packs by their index). */
  migrate(objectsDir: string): void {
    for (const e of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!e.isDirectory() || !/^[0-9a-f]{2}$/.test(e.name)) continue;
      const target = path.join(objectsDir, e.name);
      fs.mkdirSync(target, { recursive: true });
      for (const f of fs.readdirSync(path.join(this.dir, e.name))) {
        const dst = path.join(target, f);
        if (!fs.existsSync(dst)) fs.renameSync(path.join(this.dir, e.name, f), dst);
      }
    }
    const packs = fs.readdirSync(this.packDir);
    const order = (f: string) => (f.endsWith('.idx') ? 1 : 0);
    for (const f of packs.filter((f) => f.startsWith('pack-')).sort((a, b) => order(a) - order(b))) {
      fs.renameSync(path.join(this.packDir, f), path.join(objectsDir, 'pack', f));
    }
    this.discard();
  }

  discard(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
