/**
 * `npm run bench:startup [-- --root DIR] [-- --runs N]`
 *
 * Start-up cost of the command line and the gateway: wall time of `slipway check` on the starter
 * config (median of N runs) and the idle VmRSS of `slipway serve` (median over 1 s, sampled every
 * 20 ms, after it printed `listening`). `--root` measures another checkout of slipway (its
 * bin/slipway.js), to compare builds on the same machine in the same run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtMiB, median, readVmRss } from './measure.ts';

const argv = process.argv.slice(2);
const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const root = resolve(arg('--root') ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const runs = Number(arg('--runs') ?? 10);
const bin = join(root, 'bin', 'slipway.js');
const dir = mkdtempSync(join(tmpdir(), 'slipway-startup-'));

try {
  const cfg = join(dir, 'config');
  const init = spawnSync(process.execPath, [bin, 'init', cfg], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);

  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, 'check', '--config', cfg], { encoding: 'utf8' });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`check failed: ${r.stderr}`);
  }

  const child = spawn(process.execPath, [bin, 'serve', '--config', cfg, '--data', join(dir, 'data'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`serve did not start within 60 s:\n${out}`)), 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('slipway listening on')) {
        clearTimeout(timer);
        res();
      }
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => rej(new Error(`serve exited ${code}:\n${out}`)));
  });
  const samples: number[] = [];
  const end = Date.now() + 1000;
  while (Date.now() < end) {
    const rss = readVmRss(child.pid!);
    if (rss !== null) samples.push(rss);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.removeAllListeners('exit');
  child.kill('SIGTERM');

  console.log(`slipway at ${root}`);
  console.log(`  check --config <starter>: median ${Math.round(median(times))} ms of ${runs} runs (min ${Math.round(Math.min(...times))} ms, max ${Math.round(Math.max(...times))} ms)`);
  console.log(`  serve, idle VmRSS:        ${fmtMiB(median(samples))} (median of ${samples.length} samples over 1 s)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
