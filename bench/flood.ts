/**
 * `npm run bench:flood [-- --connections N]`
 *
 * The SSH door under a flood: login time of a user on 127.0.0.1 (median of 5) and the gateway's
 * resident memory, without a flood and while N connections (default 500, half silent, half
 * sending a version line and then one byte every 100 ms) are held open from 127.0.0.2-127.0.0.9,
 * each reopened 250 ms after the server closes it. A benchmark, not a test: exits 0 whatever
 * the numbers.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flood } from '../test/e2e/helpers/flood.ts';
import { fmtMiB, median, readVmRss } from './measure.ts';
import { cleanupAll, installSignalHandlers, run } from './procs.ts';
import { startSlipway } from './slipway-instance.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const count = (argv.includes('--connections') && Number(argv[argv.indexOf('--connections') + 1])) || 500;

installSignalHandlers();
const dir = mkdtempSync(join(tmpdir(), 'slipway-bench-flood-'));
const key = join(dir, 'id_ed25519');
spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
const slipway = await startSlipway({ root: ROOT, dir, publicKey: readFileSync(`${key}.pub`, 'utf8'), repos: ['app'] });

async function loginMs(): Promise<number> {
  const started = performance.now();
  const r = await run('ssh', ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-b', '127.0.0.1', '-p', String(slipway.port), 'paas@127.0.0.1', 'whoami']);
  if (r.code !== 0) throw new Error(`login failed: ${r.stderr}`);
  return performance.now() - started;
}

async function logins(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(await loginMs());
  return median(times);
}

const flood = new Flood(slipway.port, 250);

try {
  const quiet = await logins();
  const rssQuiet = readVmRss(slipway.pid)!;
  flood.start(count);
  await new Promise((r) => setTimeout(r, 2000));
  const flooded = await logins();
  const rssFlood = readVmRss(slipway.pid)!;
  const held = flood.openNow;
  flood.stop();
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = readVmRss(slipway.pid)!;
  console.log(`flood: ${count} connections from 127.0.0.2-9 (${flood.opened} opened in all, ${held} open at the end)`);
  console.log(`login (median of 5): ${quiet.toFixed(0)} ms without, ${flooded.toFixed(0)} ms during the flood`);
  console.log(`gateway RSS: ${fmtMiB(rssQuiet)} before, ${fmtMiB(rssFlood)} during, ${fmtMiB(rssAfter)} after`);
} finally {
  await slipway.stop();
  cleanupAll();
  rmSync(dir, { recursive: true, force: true });
}
