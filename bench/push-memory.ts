/**
 * Where a whole-history push's memory goes: one fresh gateway, every branch and tag of a bare
 * repo pushed in one push, the gateway's VmRSS sampled every 10 ms; at its peak, its
 * /proc/<pid>/smaps is read and compared with idle, mapping by mapping, summed by kind:
 * `[heap]` (the main thread's malloc arena), thread arenas (the indexing thread's malloc),
 * anonymous mappings (malloc's large blocks: big typed arrays and buffers), V8's 256 KiB heap
 * pages (both isolates), the node binary. Three pushes by default, each into a new gateway.
 * `--warm`: the gateway first takes the same push into another repo, so the push measured is
 * one a gateway that has served before makes (JIT done, arenas and nursery at working size).
 * `--timeline`: also prints, every 100 ms, the RSS above idle and how it splits by kind (what
 * grows while the pack arrives, what at the push's end).
 *
 *   npm run build && node --import tsx bench/push-memory.ts <bare repo> [--runs N] [--warm] [--timeline]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupHistoryEnv } from './history.ts';
import { fmtMiB, idleRss } from './measure.ts';
import { cleanupAll, run, runOk } from './procs.ts';
import { startSlipway } from './slipway-instance.ts';

type Smaps = Map<string, number>;

/** KiB resident per mapping, keyed by where it starts (a malloc heap grows at its end) and its kind. */
function smaps(pid: number): Smaps {
  const out: Smaps = new Map();
  let at = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      const [range, , , , , name] = line.split(/\s+/);
      out.set((at = `${range!.split('-')[0]} ${kind(range!, name ?? '')}`), 0);
    } else if (line.startsWith('Rss:')) out.set(at, Number(line.split(/\s+/)[1]));
  }
  return out;
}

function kind(range: string, name: string): string {
  if (name) return name === '[heap]' ? '[heap] (main thread malloc)' : name;
  const [a, b] = range.split('-').map((x) => parseInt(x, 16)) as [number, number];
  if (b - a === 0x40000) return 'V8 heap pages';
  // glibc's thread arenas are 64 MiB-aligned reservations.
  if (a % 0x4000000 === 0 && a > 0x7e0000000000) return 'thread arenas (malloc)';
  return 'anonymous (large mallocs)';
}

/** Resident bytes by kind in `now` against `idle`. */
function byKindAbove(idle: Smaps, now: Smaps): Map<string, number> {
  const byKind = new Map<string, number>();
  for (const key of new Set([...idle.keys(), ...now.keys()])) {
    const k = key.slice(key.indexOf(' ') + 1);
    byKind.set(k, (byKind.get(k) ?? 0) + ((now.get(key) ?? 0) - (idle.get(key) ?? 0)) * 1024);
  }
  return byKind;
}

function describeKinds(byKind: Map<string, number>, least: number): string {
  const kinds = [...byKind].filter(([, b]) => Math.abs(b) >= least).sort((a, b) => b[1] - a[1]);
  return kinds.map(([k, b]) => `${k} ${fmtMiB(b)}`).join(', ');
}

async function pushOnce(source: string, specs: string, branches: string[], dir: string, warm: boolean, timeline: boolean): Promise<{ ms: number; peakAt: number; idle: number; above: number; pack: number; byKind: Map<string, number> }> {
  const env = await setupHistoryEnv(dir);
  const slip = await startSlipway({
    root: join(import.meta.dirname, '..'),
    dir: join(dir, 'slipway'),
    publicKey: readFileSync(`${env.key}.pub`, 'utf8'),
    repos: [],
    repoYaml: Object.fromEntries(['r', 'warm'].map((name) => [name, `branches:\n${branches.map((b) => `  ${JSON.stringify(b)}: {}`).join('\n')}\n`])),
  });
  const pushAll = (repo: string) => run('sh', ['-c', `xargs git --git-dir '${source}' push -q '${slip.remote(repo)}' < '${specs}'`], { env: env.gitEnv });
  try {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${slip.pid}/status`, 'utf8'))![1]) * 1024;
    if (warm && (await pushAll('warm')).code !== 0) throw new Error('the warm-up push failed');
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await idleRss(slip.pid, 500);
    const idleMaps = smaps(slip.pid);
    let peak = 0;
    let peakMaps = idleMaps;
    let peakAt = 0;
    const start = Date.now();
    let lastLine = 0;
    const timer = setInterval(() => {
      const v = rss();
      if (v > peak) [peak, peakMaps, peakAt] = [v, smaps(slip.pid), Date.now() - start];
      if (timeline && Date.now() - lastLine >= 100) {
        lastLine = Date.now();
        console.log(`  ${((lastLine - start) / 1000).toFixed(2)} s: ${fmtMiB(v - idle)}; ${describeKinds(byKindAbove(idleMaps, smaps(slip.pid)), 512 << 10)}`);
      }
    }, 10);
    const push = await pushAll('r');
    clearInterval(timer);
    if (push.code !== 0) throw new Error(`the push failed: ${push.stderr.trim()}`);
    const byKind = byKindAbove(idleMaps, peakMaps);
    const pack = Number(/size-pack: (\d+)/.exec((await runOk('git', ['--git-dir', source, 'count-objects', '-v'])).stdout)?.[1] ?? 0) * 1024;
    return { ms: push.ms, peakAt, idle, above: peak - idle, pack, byKind };
  } finally {
    await slip.stop();
  }
}

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
const warmAt = args.indexOf('--warm');
const warm = warmAt >= 0 && args.splice(warmAt, 1).length > 0;
const timelineAt = args.indexOf('--timeline');
const timeline = timelineAt >= 0 && args.splice(timelineAt, 1).length > 0;
const source = args[0];
if (!source) {
  console.error('usage: node --import tsx bench/push-memory.ts <bare repo> [--runs N] [--warm] [--timeline]');
  process.exit(2);
}
const work = mkdtempSync(join(tmpdir(), 'slipway-push-memory-'));
try {
  const refs = (await runOk('git', ['--git-dir', source, 'for-each-ref', '--format=%(refname)', 'refs/heads', 'refs/tags'])).stdout.trim().split('\n');
  const specs = join(work, 'refspecs');
  writeFileSync(specs, refs.map((r) => `${r}:${r}`).join('\n') + '\n');
  const branches = refs.filter((r) => r.startsWith('refs/heads/')).map((r) => r.slice(11));
  for (let i = 0; i < runs; i++) {
    const r = await pushOnce(source, specs, branches, join(work, `run${i}`), warm, timeline);
    console.log(`push ${i + 1}: ${(r.ms / 1000).toFixed(2)} s; peak RSS at ${(r.peakAt / 1000).toFixed(2)} s, ${fmtMiB(r.above)} above idle (${fmtMiB(r.idle)}) for a ${fmtMiB(r.pack)} pack; ${describeKinds(r.byKind, 256 << 10)}`);
  }
} finally {
  cleanupAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
