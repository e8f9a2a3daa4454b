/**
 * `logs -f` latency and cost. An app prints a line (on an HTTP request); the time until each of
 * 10 attached followers' OpenSSH clients has received it, over 200 lines, as p50/p95; against
 * 10 `tail -F` of the same log file through native sshd in the same run. Then the gateway's CPU
 * while 10 followers sit idle, and what 10 followers cost a push (median push time without and
 * with them).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './measure.ts';
import type { NativeSshd } from './native-sshd.ts';
import { run, runOk, spawnTracked } from './procs.ts';
import { MARKER_VAR } from './push-to-live.ts';
import { startSlipway, type SlipwayInstance } from './slipway-instance.ts';

export const LOGS_REPO = 'loud';
const FOLLOWERS = 10;
const LINES = 200;
/** Between two printed lines: each is its own write, not a batch. */
const SPACING_MS = 20;
const PUSHES = 3;
/** Two of ssh2's 15 s keepalive rounds for every connection, followers and baseline alike. */
const IDLE_MS = 30_000;

const TARGET_P95_MS = 250;

const APP = `const http = require('node:http');
http.createServer((req, res) => {
  const id = new URL(req.url, 'http://x').searchParams.get('id');
  if (id !== null) console.log('mark ' + id);
  res.end('ok\\n');
}).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

export interface SideLatency {
  /** ms from the request that makes the app print to each follower's receipt of the line */
  samples: number[];
  missing: number;
  p50: number;
  p95: number;
  max: number;
}

export interface LogsFollowResult {
  native: SideLatency;
  slipway: SideLatency;
  /** gateway CPU (ms) over IDLE_MS with as many connections that run nothing (`ssh -N`: ssh2 sends each a keepalive every 15 s) */
  baseCpuMs: number;
  /** the same with 10 followers attached and an app that prints nothing */
  idleCpuMs: number;
  /** wake-ups of the gateway's event loop over IDLE_MS, without and with the idle followers */
  baseWakeups: number;
  idleWakeups: number;
  /** gateway CPU (ms) for the 200 lines delivered to 10 followers (after they logged in) */
  busyCpuMs: number;
  pushMsWithout: number;
  pushMsWith: number;
  errors: string[];
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
  });
}

/** Times the gateway's event loop woke up (voluntary context switches of its main thread). */
function wakeups(pid: number): number {
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

interface Follower {
  /** id → performance.now() when its line arrived */
  seen: Map<number, number>;
  stop(): void;
}

function follower(cmd: string, args: string[]): Follower {
  const seen = new Map<number, number>();
  const cp = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  cp.stdout!.on('data', (d: Buffer) => {
    const now = performance.now();
    buf += d.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      const m = / mark (-?\d+)$/.exec(l);
      if (m && !seen.has(Number(m[1]))) seen.set(Number(m[1]), now);
    }
  });
  return { seen, stop: () => cp.kill('SIGKILL') };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Attaches the followers, waits until each shows a warm-up line, then times LINES lines. */
async function measureSide(port: number, start: () => Follower, warmupBase: number, cpu?: () => number): Promise<{ latency: SideLatency; followers: Follower[]; cpuMs: number }> {
  const followers = Array.from({ length: FOLLOWERS }, start);
  // Warm-up: lines with negative ids until every follower has one (they attach at their own pace).
  let w = warmupBase;
  await until(
    'every follower to show a line',
    () => {
      void get(port, `/?id=${--w}`);
      return followers.every((f) => [...f.seen.keys()].some((k) => k < 0));
    },
    30_000,
  );
  const sent = new Map<number, number>();
  const cpu0 = cpu?.() ?? 0;
  for (let i = 0; i < LINES; i++) {
    sent.set(i, performance.now());
    await get(port, `/?id=${i}`);
    await new Promise((r) => setTimeout(r, SPACING_MS));
  }
  await until('every line at every follower', () => followers.every((f) => f.seen.has(LINES - 1)), 10_000).catch(() => undefined);
  const cpuMs = (cpu?.() ?? 0) - cpu0;
  const samples: number[] = [];
  let missing = 0;
  for (const f of followers) {
    for (const [id, t0] of sent) {
      const t = f.seen.get(id);
      if (t === undefined) missing++;
      else samples.push(t - t0);
    }
  }
  return { latency: { samples, missing, p50: percentile(samples, 50), p95: percentile(samples, 95), max: Math.max(...samples) }, followers, cpuMs };
}

function pushPort(output: string): number {
  const m = /web 1\/1 on port (\d+)/.exec(output);
  if (!m) throw new Error(`no port in the push output: ${output.slice(-500)}`);
  return Number(m[1]);
}

export async function measureLogsFollow(o: {
  root: string;
  dir: string;
  key: string;
  gitEnv: NodeJS.ProcessEnv;
  sshd: NativeSshd;
  ports: { min: number; max: number };
  log: (msg: string) => void;
}): Promise<{ result: LogsFollowResult; slip: SlipwayInstance }> {
  const errors: string[] = [];
  mkdirSync(o.dir, { recursive: true });
  const yaml = [
    'branches:',
    '  main:',
    '    runners:',
    `      web: {type: NginxBackend, cmd: ${JSON.stringify(`${process.execPath} server.cjs`)}, process_count: 1}`,
    '    env:',
    `      ${MARKER_VAR}: ${JSON.stringify(o.dir)}`,
    '',
  ].join('\n');
  const slip = await startSlipway({ root: o.root, dir: join(o.dir, 'slipway'), publicKey: readFileSync(`${o.key}.pub`, 'utf8'), repos: [LOGS_REPO], repoYaml: { [LOGS_REPO]: yaml },
    // Under `limits:` (the last key startSlipway writes): room for the followers and the pushes beside them.
    mainExtra: ['  max_connections_per_user: 64', '  max_sessions_per_user: 64', `ports: {min: ${o.ports.min}, max: ${o.ports.max}}`],
  });
  const work = join(o.dir, 'work');
  mkdirSync(work, { recursive: true });
  const git = (args: string[]) => runOk('git', args, { cwd: work, env: o.gitEnv });
  await git(['init', '-q', '-b', 'main']);
  writeFileSync(join(work, 'server.cjs'), APP);
  let version = 0;
  const commitAndPush = async (): Promise<{ ms: number; port: number }> => {
    writeFileSync(join(work, 'version.txt'), `${++version}\n`);
    await git(['add', '-A']);
    await git(['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', `v${version}`]);
    const t0 = performance.now();
    const r = await run('git', ['push', slip.remote(LOGS_REPO), 'main'], { cwd: work, env: o.gitEnv });
    if (r.code !== 0) throw new Error(`git push failed:\n${r.stderr}`);
    return { ms: performance.now() - t0, port: pushPort(r.stderr) };
  };
  let { port } = await commitAndPush();
  const logFile = join(slip.dataDir, 'logs', LOGS_REPO, 'main', 'web.0.log');
  const sshBase = (o.gitEnv.GIT_SSH_COMMAND ?? 'ssh').split(' ').map((a) => a.replace(/^'(.*)'$/, '$1'));

  o.log(`logs -f: ${FOLLOWERS} followers, ${LINES} lines ${SPACING_MS} ms apart; native: ${FOLLOWERS} x 'tail -F' of the same file over sshd`);
  const native = await measureSide(port, () => follower(sshBase[0]!, [...sshBase.slice(1), '-p', String(o.sshd.port), `${o.sshd.user}@127.0.0.1`, 'tail', '-F', '-n', '0', logFile]), -1);
  for (const f of native.followers) f.stop();
  o.log(`  native: p50 ${native.latency.p50.toFixed(1)} ms, p95 ${native.latency.p95.toFixed(1)} ms, max ${native.latency.max.toFixed(1)} ms, ${native.latency.missing} missing`);

  // The baseline: as many connections, logged in, running nothing (ssh2 keeps each alive either way).
  const bare = Array.from({ length: FOLLOWERS }, () => spawnTracked(sshBase[0]!, [...sshBase.slice(1), '-N', '-p', String(slip.port), 'bench@127.0.0.1'], { stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 3000));
  const quietStart = cpuMs(slip.pid);
  const quietWake = wakeups(slip.pid);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const baseCpuMs = cpuMs(slip.pid) - quietStart;
  const baseWakeups = wakeups(slip.pid) - quietWake;
  for (const b of bare) b.kill('SIGKILL');
  o.log(`  gateway over ${IDLE_MS / 1000} s with ${FOLLOWERS} idle connections (ssh -N): CPU ${baseCpuMs.toFixed(0)} ms, ${baseWakeups} wake-ups`);

  const mine = await measureSide(port, () => follower(sshBase[0]!, [...sshBase.slice(1), '-p', String(slip.port), 'bench@127.0.0.1', 'logs', LOGS_REPO, 'main', '-f', '-n', '0']), -100_000, () => cpuMs(slip.pid));
  const busyCpuMs = mine.cpuMs;
  o.log(`  slipway: p50 ${mine.latency.p50.toFixed(1)} ms, p95 ${mine.latency.p95.toFixed(1)} ms, max ${mine.latency.max.toFixed(1)} ms, ${mine.latency.missing} missing; gateway CPU ${busyCpuMs.toFixed(0)} ms for the ${LINES} lines to ${FOLLOWERS} followers (${((busyCpuMs * 1000) / (LINES * FOLLOWERS)).toFixed(0)} µs a line and follower)`);
  if (mine.latency.missing) errors.push(`${mine.latency.missing} lines never reached a follower`);

  // Let the burst's aftermath (garbage collection, compiled code) pass first: it took up to ~2 s.
  await new Promise((r) => setTimeout(r, 3000));
  const idleStart = cpuMs(slip.pid);
  const idleWake = wakeups(slip.pid);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idleCpuMs = cpuMs(slip.pid) - idleStart;
  const idleWakeups = wakeups(slip.pid) - idleWake;
  o.log(`  gateway over ${IDLE_MS / 1000} s with ${FOLLOWERS} idle followers: CPU ${idleCpuMs.toFixed(0)} ms, ${idleWakeups} wake-ups`);

  // A push with the followers attached (they see the redeploy), then without.
  const withF: number[] = [];
  for (let i = 0; i < PUSHES; i++) {
    const p = await commitAndPush();
    withF.push(p.ms);
    port = p.port;
  }
  for (const f of mine.followers) f.stop();
  await new Promise((r) => setTimeout(r, 500));
  const without: number[] = [];
  for (let i = 0; i < PUSHES; i++) {
    const p = await commitAndPush();
    without.push(p.ms);
    port = p.port;
  }
  const result: LogsFollowResult = { native: native.latency, slipway: mine.latency, baseCpuMs, idleCpuMs, baseWakeups, idleWakeups, busyCpuMs, pushMsWith: median(withF), pushMsWithout: median(without), errors };
  o.log(`  push (redeploy of 1 process): ${result.pushMsWithout.toFixed(0)} ms without followers, ${result.pushMsWith.toFixed(0)} ms with ${FOLLOWERS} (medians of ${PUSHES})`);
  return { result, slip };
}

/** Rows for the bench table: [operation, native, slipway, ratio, target, result]. */
export function logsFollowRows(r: LogsFollowResult): [string, string, string, string, string, string][] {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const pass = r.errors.length === 0 && r.slipway.p95 < TARGET_P95_MS ? 'PASS' : 'MISS';
  return [
    [`logs -f latency p50 (${FOLLOWERS} followers, ${LINES} lines; native: tail -F over sshd)`, ms(r.native.p50), ms(r.slipway.p50), `${(r.slipway.p50 / r.native.p50).toFixed(2)}x`, '-', '-'],
    [`logs -f latency p95`, ms(r.native.p95), ms(r.slipway.p95), `${(r.slipway.p95 / r.native.p95).toFixed(2)}x`, `< ${TARGET_P95_MS} ms`, r.errors.length ? 'FAIL' : pass],
    [`gateway wake-ups over ${IDLE_MS / 1000} s: ${FOLLOWERS} idle followers vs ${FOLLOWERS} idle connections`, '-', `${r.idleWakeups} vs ${r.baseWakeups}`, '-', 'no more', r.idleWakeups <= r.baseWakeups * 1.1 + 5 ? 'PASS' : 'MISS'],
    [`gateway CPU over ${IDLE_MS / 1000} s: ${FOLLOWERS} idle followers vs ${FOLLOWERS} idle connections`, '-', `${r.idleCpuMs.toFixed(0)} vs ${r.baseCpuMs.toFixed(0)} ms`, '-', '-', '-'],
    [`gateway CPU for the ${LINES} lines to ${FOLLOWERS} followers`, '-', `${r.busyCpuMs.toFixed(0)} ms`, '-', '-', '-'],
    [`push (redeploy) with ${FOLLOWERS} followers vs none (median of ${PUSHES})`, '-', `${r.pushMsWith.toFixed(0)} vs ${r.pushMsWithout.toFixed(0)} ms`, `${(r.pushMsWith / r.pushMsWithout).toFixed(2)}x`, '-', '-'],
  ];
}
