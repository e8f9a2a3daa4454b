/**
 * The indexer alone against `git index-pack`, without ssh or a network in between:
 *   node --import tsx bench/index-pack.ts <pack file> [--repeat N]
 * Indexes a pack file (e.g. a bare repo's objects/pack/pack-*.pack) N times each way, in turns:
 * native `git index-pack --strict` (what receive-pack runs with receive.fsckObjects), slipway on
 * its worker thread as a big push is, and slipway on the event loop as a small push is. Prints
 * the median wall time, the ratio to native and slipway's peak RSS above what it held before.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS } from '../src/config/schema.ts';
import { indexPushedPack } from '../src/git/index-off-thread.ts';

const LIMITS = DEFAULT_LIMITS;

const args = process.argv.slice(2);
const at = args.indexOf('--repeat');
const repeat = at >= 0 ? Number(args.splice(at, 2)[1]) : 3;
const pack = args[0];
if (!pack || !(repeat > 0)) {
  console.log('usage: node --import tsx bench/index-pack.ts <pack file> [--repeat N]');
  process.exit(2);
}
const size = statSync(pack).size;

async function slipway(offThread: boolean): Promise<{ ms: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-bench-idx-'));
  mkdirSync(join(dir, 'objects/pack'), { recursive: true });
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  try {
    const job = { packPath: pack!, destDir: join(dir, 'objects/pack'), storeDirs: [join(dir, 'objects')], limits: LIMITS };
    const r = await indexPushedPack(job, { ended: true, need: async () => size }, () => {}, offThread ? 0 : Infinity);
    if (r.check.doubt) console.log(`slipway doubts the pack: ${r.check.doubt}`);
    return { ms: performance.now() - t0, rss: peak - before };
  } finally {
    clearInterval(sampler);
    rmSync(dir, { recursive: true, force: true });
  }
}

function native(): number {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-bench-idx-'));
  const t0 = performance.now();
  const r = spawnSync('git', ['index-pack', '--strict', '-o', join(dir, 'out.idx'), pack!], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`git index-pack failed: ${r.stderr.toString().trim()}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const runs = { native: [] as number[], worker: [] as number[], loop: [] as number[], workerRss: [] as number[], loopRss: [] as number[] };
for (let i = 0; i < repeat; i++) {
  runs.native.push(native());
  const w = await slipway(true);
  runs.worker.push(w.ms);
  runs.workerRss.push(w.rss);
  const l = await slipway(false);
  runs.loop.push(l.ms);
  runs.loopRss.push(l.rss);
}
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const n = median(runs.native);
console.log(`pack ${pack} (${mib(size)}), median of ${repeat}:`);
console.log(`  git index-pack --strict   ${(n / 1000).toFixed(2)} s`);
console.log(`  slipway on its worker     ${(median(runs.worker) / 1000).toFixed(2)} s  ${(median(runs.worker) / n).toFixed(2)}x  peak RSS +${mib(Math.max(...runs.workerRss))}`);
console.log(`  slipway on the event loop ${(median(runs.loop) / 1000).toFixed(2)} s  ${(median(runs.loop) / n).toFixed(2)}x  peak RSS +${mib(Math.max(...runs.loopRss))}`);
