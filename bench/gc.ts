/**
 * gc of a real history, slipway's against native git's, same machine, same run:
 *
 *   node --import tsx bench/gc.ts /path/to/repo.git ...      (npm run bench:gc -- …)
 *
 * Each repo's branches and tags are first laid down as pushes leave them: the default branch in
 * 20 steps, then everything else, each step a thin pack completed by `git index-pack --fix-thin`
 * (21 packs), plus a refused push's junk (an unreachable commit). Three copies of that repo are
 * then collected: slipway's `gc` (grace 0, in this process), native `git gc --prune=now`, and
 * native `git repack -a -d` (delta reuse plus a window search, no pruning of loose objects).
 * Reported: wall time, the resulting pack bytes, objects and how many are stored as deltas
 * (`git verify-pack -v`), slipway's peak RSS above its start; `git fsck --full` must pass after.
 * A benchmark, not a test: the numbers are printed, not judged.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gc } from '../src/git/gc.ts';
import { fmtMiB, RssSampler } from './measure.ts';
import { run } from './procs.ts';

const ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.com' };
const STEPS = 20;

const git = (dir: string, args: string[], input?: Buffer | string): Buffer =>
  execFileSync('git', ['--git-dir', dir, ...args], { input, env: ENV, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
const text = (dir: string, args: string[]) => git(dir, args).toString('utf8').trim();

interface Side {
  ms: number;
  packBytes: number;
  packs: number;
  objects: number;
  deltas: number;
  peakRssAbove?: number;
}

export interface GcBenchResult {
  repo: string;
  objects: number;
  refs: number;
  packsBefore: number;
  bytesBefore: number;
  sides: { slipway: Side; nativeGc: Side; nativeRepack: Side };
}

/** The source's branches and tags as 21 pushes would leave them in a fresh bare repo. */
export function layDown(source: string, dest: string): { refs: number } {
  execFileSync('git', ['init', '-q', '--bare', dest], { env: ENV });
  const refs = text(source, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/tags'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ') as [string, string]);
  const head = text(source, ['symbolic-ref', 'HEAD']);
  const tip = refs.find(([, r]) => r === head)?.[0] ?? refs[0]![0];
  const line = text(source, ['rev-list', '--first-parent', '--reverse', tip]).split('\n');
  const steps = Array.from({ length: STEPS }, (_, i) => line[Math.floor(((i + 1) * line.length) / STEPS) - 1]!);
  let prev: string | null = null;
  const push = (revs: string[]) => {
    const pack = git(source, ['pack-objects', '--stdout', '--revs', '--thin', '-q'], revs.join('\n') + '\n');
    git(dest, ['index-pack', '--stdin', '--fix-thin'], pack);
  };
  for (const s of steps) {
    push(prev ? [s, `^${prev}`] : [s]);
    prev = s;
  }
  push([...refs.map(([oid]) => oid), `^${prev}`]);
  writeFileSync(join(dest, 'packed-refs'), refs.map(([oid, r]) => `${oid} ${r}\n`).join(''));
  execFileSync('git', ['--git-dir', dest, 'symbolic-ref', 'HEAD', head], { env: ENV });
  // A refused push's leftovers: a commit no ref reaches.
  text(dest, ['commit-tree', `${tip}^{tree}`, '-p', tip, '-m', 'junk']);
  return { refs: refs.length };
}

function packStats(dir: string): Omit<Side, 'ms'> {
  const packDir = join(dir, 'objects', 'pack');
  const packs = readdirSync(packDir).filter((f) => f.endsWith('.pack'));
  let objects = 0;
  let deltas = 0;
  let packBytes = 0;
  for (const p of packs) {
    packBytes += statSync(join(packDir, p)).size;
    for (const l of text(dir, ['verify-pack', '-v', join(packDir, p)]).split('\n')) {
      if (!/^[0-9a-f]{40} /.test(l)) continue;
      objects++;
      if (l.split(/\s+/).length >= 7) deltas++;
    }
  }
  return { packBytes, packs: packs.length, objects, deltas };
}

export async function benchGc(source: string): Promise<GcBenchResult> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-gc-'));
  try {
    const base = join(root, 'base.git');
    const { refs } = layDown(source, base);
    const before = packStats(base);
    const copy = (name: string) => {
      const d = join(root, name);
      cpSync(base, d, { recursive: true });
      return d;
    };
    const [ours, nativeGc, nativeRepack] = [copy('slipway.git'), copy('native-gc.git'), copy('native-repack.git')];

    const rss = new RssSampler(process.pid, 'self').start();
    rss.mark();
    const start = rss.current();
    const t0 = performance.now();
    await gc(ours, { graceMs: 0, keepAlive: () => [] });
    const slipwayMs = performance.now() - t0;
    const peak = rss.peak();
    rss.stop();
    const ng = await run('git', ['--git-dir', nativeGc, 'gc', '--prune=now', '-q'], { env: ENV });
    const nr = await run('git', ['--git-dir', nativeRepack, 'repack', '-a', '-d', '-q'], { env: ENV });
    if (ng.code !== 0 || nr.code !== 0) throw new Error(`native git failed: ${ng.stderr}${nr.stderr}`);
    git(ours, ['fsck', '--full', '--no-dangling']);
    return {
      repo: basename(source.replace(/\/repo$/, '')),
      objects: before.objects,
      refs,
      packsBefore: before.packs,
      bytesBefore: before.packBytes,
      sides: {
        slipway: { ms: slipwayMs, ...packStats(ours), peakRssAbove: peak - start },
        nativeGc: { ms: ng.ms, ...packStats(nativeGc) },
        nativeRepack: { ms: nr.ms, ...packStats(nativeRepack) },
      },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function gcMarkdown(results: GcBenchResult[]): string {
  const rows = results.flatMap((r) => {
    const cell = (name: string, s: Side) =>
      `| ${r.repo} | ${name} | ${(s.ms / 1000).toFixed(2)} s | ${fmtMiB(s.packBytes)} | ${s.packs} | ${s.objects.toLocaleString('en')} | ${s.deltas.toLocaleString('en')} | ${s.peakRssAbove === undefined ? '' : fmtMiB(s.peakRssAbove)} |`;
    return [cell('slipway gc', r.sides.slipway), cell('git gc --prune=now', r.sides.nativeGc), cell('git repack -a -d', r.sides.nativeRepack)];
  });
  const ratios = results.map((r) => {
    const s = r.sides.slipway;
    const n = r.sides.nativeGc;
    return `${r.repo} (${r.objects.toLocaleString('en')} objects in ${r.packsBefore} packs, ${fmtMiB(r.bytesBefore)}, ${r.refs} refs): time ${(s.ms / n.ms).toFixed(2)}x native gc, pack ${(s.packBytes / n.packBytes).toFixed(2)}x, deltas ${(s.deltas / n.deltas).toFixed(2)}x`;
  });
  return [
    '| repository | gc | time | pack | packs | objects | deltas | peak RSS above start |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...ratios,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const repos = process.argv.slice(2);
  if (repos.length === 0) {
    console.error('usage: node --import tsx bench/gc.ts /path/to/repo.git ...');
    process.exit(2);
  }
  const results: GcBenchResult[] = [];
  for (const r of repos) results.push(await benchGc(r));
  console.log(gcMarkdown(results));
}
