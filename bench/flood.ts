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
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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

let stopped = false;
const sockets = new Set<net.Socket>();
let opened = 0;
function open(localAddress: string, babble: boolean): void {
  if (stopped) return;
  opened++;
  const sock = net.connect({ host: '127.0.0.1', port: slipway.port, localAddress });
  sockets.add(sock);
  let timer: NodeJS.Timeout | undefined;
  sock.on('error', () => {});
  if (babble) {
    sock.once('connect', () => {
      sock.write('SSH-2.0-babbler\r\n');
      sock.write(Buffer.from([0, 0, 0x75, 0x30]));
      timer = setInterval(() => sock.write('x'), 100);
    });
  }
  sock.on('close', () => {
    clearInterval(timer);
    sockets.delete(sock);
    setTimeout(() => open(localAddress, babble), 250);
  });
}

try {
  const quiet = await logins();
  const rssQuiet = readVmRss(slipway.pid)!;
  for (let i = 0; i < count; i++) open(`127.0.0.${(i % 8) + 2}`, i % 2 === 1);
  await new Promise((r) => setTimeout(r, 2000));
  const flooded = await logins();
  const rssFlood = readVmRss(slipway.pid)!;
  const held = sockets.size;
  stopped = true;
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = readVmRss(slipway.pid)!;
  console.log(`flood: ${count} connections from 127.0.0.2-9 (${opened} opened in all, ${held} open at the end)`);
  console.log(`login (median of 5): ${quiet.toFixed(0)} ms without, ${flooded.toFixed(0)} ms during the flood`);
  console.log(`gateway RSS: ${fmtMiB(rssQuiet)} before, ${fmtMiB(rssFlood)} during, ${fmtMiB(rssAfter)} after`);
} finally {
  await slipway.stop();
  cleanupAll();
  rmSync(dir, { recursive: true, force: true });
}
