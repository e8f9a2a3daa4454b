/** Real repositories built with the git CLI, the oracle for the src/git tests. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ada',
  GIT_AUTHOR_EMAIL: 'ada@example.com',
  GIT_COMMITTER_NAME: 'Ada',
  GIT_COMMITTER_EMAIL: 'ada@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(cwd: string, args: string[], input?: Buffer | string, env: Record<string, string> = {}): Buffer {
  return execFileSync('git', args, { cwd, input, env: { ...ENV, ...env }, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function gitText(cwd: string, args: string[], input?: Buffer | string): string {
  return git(cwd, args, input).toString('utf8').trim();
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `slipway-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Deterministic text of `lines` lines, varied by `seed`, so edits produce deltas. */
function text(seed: number, lines: number): string {
  let s = '';
  for (let i = 0; i < lines; i++) s += `line ${i} of file ${seed}: ${((seed * 7919 + i * 104729) % 1000003).toString(36)} lorem ipsum\n`;
  return s;
}

/**
 * A work-tree repo with `commits` commits: files in nested dirs, an executable and a symlink,
 * each commit editing a few files (so packs hold deltas). Returns the commit oids, oldest first.
 */
export function makeRepo(dir: string, commits = 6, files = 40): string[] {
  git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['config', 'gc.auto', '0']);
  const oids: string[] = [];
  for (let c = 0; c < commits; c++) {
    for (let f = 0; f < files; f++) {
      if (c > 0 && (f + c) % 5 !== 0) continue;
      const sub = join(dir, `dir${f % 4}`, `sub${f % 3}`);
      mkdirSync(sub, { recursive: true });
      const body = text(f, 60 + f) + (c > 0 ? `edit ${c} of file ${f}\n` + text(f + 1000 * c, 3) : '');
      writeFileSync(join(sub, `file${f}.txt`), body);
    }
    if (c === 0) {
      writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
      chmodSync(join(dir, 'run.sh'), 0o755);
      symlinkSync('dir0/sub0/file0.txt', join(dir, 'link'));
    }
    const date = `${1700000000 + c * 60} +0000`;
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', `commit ${c}\n\nbody of ${c}\n`], undefined, { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
    oids.push(gitText(dir, ['rev-parse', 'HEAD']));
  }
  return oids;
}

export function initBare(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '--bare', '-b', 'main']);
  return join(dir, 'objects');
}

/** `git pack-objects --stdout` of the objects reachable from `revs` (`^x` excludes x). */
export function packRevs(repo: string, revs: string[], flags: string[] = []): Buffer {
  return git(repo, ['pack-objects', '--stdout', '--revs', '-q', ...flags], revs.join('\n') + '\n');
}

/** Every object in a repo, sorted. */
export function allObjects(gitDir: string): string[] {
  return gitText(gitDir, ['cat-file', '--batch-all-objects', '--batch-check=%(objectname)'])
    .split('\n')
    .filter(Boolean)
    .sort();
}

/** Points `ref` at `oid` by writing the file, as slipway does (no git binary in the server). */
export function writeRef(gitDir: string, ref: string, oid: string): void {
  const path = join(gitDir, ref);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, oid + '\n');
}

export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}
