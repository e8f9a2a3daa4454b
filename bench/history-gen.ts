/**
 * A long history built with `git fast-import` in seconds: `commits` commits on main, each editing
 * a few of `files` text files spread over directories, `branches` side branches forking along the
 * way with commits of their own, and `tags` annotated tags on main. Deterministic (seeded PRNG,
 * fixed dates): the same hashes on every run. Cached as a bare repo under `<work>/repos/`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface LongHistorySpec {
  name: string;
  commits: number;
  files: number;
  /** files edited by each commit */
  perCommit: number;
  branches: number;
  tags: number;
  seed: number;
}

export const LONG_HISTORY: Record<'full' | 'quick', LongHistorySpec> = {
  full: { name: 'long-history', commits: 20_000, files: 2_000, perCommit: 3, branches: 20, tags: 300, seed: 7 },
  quick: { name: 'long-history-quick', commits: 2_000, files: 200, perCommit: 3, branches: 5, tags: 30, seed: 7 },
};

const VERSION = 'v1';

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Returns the path of the bare repo, building it when it is not cached. */
export function ensureLongHistory(workRoot: string, spec: LongHistorySpec, log: (m: string) => void): string {
  const dir = resolve(workRoot, 'repos', `${VERSION}-${spec.name}.git`);
  if (existsSync(join(dir, 'refs', 'tags'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const init = spawnSync('git', ['init', '-q', '--bare', '-b', 'main', dir]);
  if (init.status !== 0) throw new Error(`git init: ${init.stderr}`);
  const stream = fastImportStream(spec);
  const r = spawnSync('git', ['--git-dir', dir, 'fast-import', '--quiet', '--done'], { input: stream, maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`git fast-import: ${r.stderr.toString().trim().split('\n').slice(-3).join(' | ')}`);
  }
  // One pack with deltas, as a project that was gc'd has.
  spawnSync('git', ['--git-dir', dir, 'repack', '-adq', '--window=10', '--depth=50']);
  log(`built ${spec.name}: ${spec.commits} commits, ${spec.files} files, ${spec.branches} branches, ${spec.tags} tags in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

export function fastImportStream(spec: LongHistorySpec): Buffer {
  const rand = prng(spec.seed);
  const out: string[] = [];
  const dirs = Math.max(1, Math.round(spec.files / 50));
  const path = (f: number) => `src/d${f % dirs}/file${f}.txt`;
  // Each file is 40 lines; a commit rewrites one line of each file it touches.
  const lines: string[][] = Array.from({ length: spec.files }, (_, f) => Array.from({ length: 40 }, (_, l) => `line ${l} of ${path(f)}: ${Math.floor(rand() * 1e9).toString(36)}`));
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  let when = 1_500_000_000;
  let mark = 0;
  const who = (t: number) => `Bench Author <bench@example.com> ${t} +0000`;
  const commit = (ref: string, msg: string, edits: number[], from?: number): number => {
    const m = ++mark;
    when += 60;
    out.push(`commit ${ref}\nmark :${m}\nauthor ${who(when)}\ncommitter ${who(when)}\n${data(msg)}`);
    if (from !== undefined) out.push(`from :${from}\n`);
    for (const f of edits) {
      lines[f]![Math.floor(rand() * 40)] = `edit ${m}: ${Math.floor(rand() * 1e9).toString(36)}`;
      out.push(`M 100644 inline ${path(f)}\n${data(lines[f]!.join('\n'))}`);
    }
    out.push('\n');
    return m;
  };
  const mainMarks: number[] = [];
  mainMarks.push(commit('refs/heads/main', 'initial import', Array.from({ length: spec.files }, (_, f) => f)));
  const forkEvery = Math.floor(spec.commits / (spec.branches + 1));
  const tagEvery = Math.max(1, Math.floor(spec.commits / spec.tags));
  let branchesMade = 0;
  let tagsMade = 0;
  for (let c = 1; c < spec.commits; c++) {
    const edits = Array.from({ length: spec.perCommit }, () => Math.floor(rand() * spec.files));
    mainMarks.push(commit('refs/heads/main', `change ${c}`, [...new Set(edits)]));
    if (branchesMade < spec.branches && c % forkEvery === 0) {
      const ref = `refs/heads/topic/${++branchesMade}`;
      let at = mainMarks[mainMarks.length - 1]!;
      for (let k = 0; k < 5; k++) at = commit(ref, `topic ${branchesMade} step ${k}`, [Math.floor(rand() * spec.files)], k === 0 ? at : undefined);
      out.push(`reset refs/heads/main\nfrom :${mainMarks[mainMarks.length - 1]}\n\n`);
    }
    if (tagsMade < spec.tags && c % tagEvery === 0) {
      tagsMade++;
      out.push(`tag v${Math.floor(tagsMade / 10)}.${tagsMade % 10}.${c}\nfrom :${mainMarks[mainMarks.length - 1]}\ntagger ${who(when)}\n${data(`release ${tagsMade}`)}`);
    }
  }
  out.push('done\n');
  return Buffer.from(out.join(''));
}
