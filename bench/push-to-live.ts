/**
 * Push-to-live: from the start of `git push` of a one-line change to the first HTTP request
 * answered by the new version, for an app without a build step (a tiny node HTTP server deployed
 * by slipway as an NginxBackend runner), plus the deploy's own step durations from the gateway log.
 *
 * The deployed app processes are detached and outlive slipway by design: `killApps` stops them
 * (from `<data>/state/processes.json`, and by an environment marker as a fallback).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnTracked } from './procs.ts';
import type { SlipwayInstance } from './slipway-instance.ts';

export const LIVE_REPO = 'live';
/** Environment variable set (branch `env`) on every app process of a bench run; its value is the run dir. */
export const MARKER_VAR = 'SLIPWAY_BENCH_RUN';

const POLL_MS = 5;
const PUSH_TIMEOUT_MS = 60_000;

/** `repos/live.yml`: one NginxBackend process running `node server.js`, no build hook. */
export function liveRepoYaml(marker: string): string {
  return [
    'branches:',
    '  main:',
    '    runners:',
    `      web: {type: NginxBackend, cmd: ${JSON.stringify(`${process.execPath} server.js`)}, process_count: 1}`,
    '    env:',
    `      ${MARKER_VAR}: ${JSON.stringify(marker)}`,
    '',
  ].join('\n');
}

/** The app: answers its version, and (second line) the wall-clock ms at which it started listening. */
export function serverJs(version: string): string {
  return [
    "'use strict';",
    "const http = require('node:http');",
    `const VERSION = ${JSON.stringify(version)};`,
    'let ready = 0;',
    'http',
    "  .createServer((req, res) => res.end(`${VERSION}\\nready ${ready}\\n`))",
    "  .listen(Number(process.env.PORT), '127.0.0.1', () => (ready = Date.now()));",
    '',
  ].join('\n');
}

/** One timed push. Times in ms; the deploy's own steps come from the gateway's `deployed` log line. */
export interface LiveRun {
  version: string;
  /** t0 (just before spawning git push) -> first HTTP answer showing the new version */
  liveMs: number;
  /** t0 -> git push exited */
  pushMs: number;
  /** t0 -> the deploy started (gateway log time minus the deploy's ms) */
  receiveMs: number;
  /** the deploy's total (`ms=` in the log line): checkout .. stop */
  deployMs: number;
  checkoutMs: number;
  buildMs: number | null;
  spawnMs: number;
  healthMs: number;
  startMs: number;
  switchMs: number;
  stopMs: number;
  /** t0 -> the new app's listen callback ran (its own clock reading, in its answer) */
  readyMs: number;
  /** receive + checkout + build + start - ready: how long after the app listened the health check saw it */
  healthLagMs: number;
  /** live - (receive + checkout + build + start + switch): step bookkeeping, the port line's trip to the client, the first GET */
  restMs: number;
  /** push exit - (receive + deploy): ref update, report-status, ssh teardown */
  tailMs: number;
  port: number;
  /** how the bench learned the new port: from the push output while it ran, or (late) from the state file */
  portFrom: 'push output' | 'state file';
  /** GET attempts on the new port before the new version answered */
  attempts: number;
  release: string;
}

export interface LiveResult {
  runs: LiveRun[];
  errors: string[];
  /** the untimed first deploy (nothing running before), ms from its log line */
  firstDeployMs: number;
  /** every `deployed` / `deploy failed` log line seen, verbatim */
  logLines: string[];
}

export interface LiveOptions {
  slip: SlipwayInstance;
  /** scratch dir for the app's work repo */
  dir: string;
  gitEnv: NodeJS.ProcessEnv;
  repeat: number;
  log: (msg: string) => void;
}

// ---------------------------------------------------------------- helpers

function gitSync(args: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout.trim();
}

/** One GET of `/` on a fresh connection (no keep-alive), optionally for a virtual host. */
export function get(port: number, timeoutMs = 1000, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs, ...(host ? { headers: { host } } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fields of a gateway log line: `<iso time> INFO  <component>: deployed k=v …`. */
export function parseLogLine(line: string): { at: number; fields: Record<string, string> } | null {
  const m = /^(\S+)\s+\S+\s+\S+:\s+(deployed|deploy failed)\b(.*)$/.exec(line);
  if (!m) return null;
  const fields: Record<string, string> = { event: m[2]! };
  for (const kv of m[3]!.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
    let v = kv[2]!;
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        /* keep as is */
      }
    }
    fields[kv[1]!] = v;
  }
  return { at: Date.parse(m[1]!), fields };
}

/** The port of the current release's process, from the supervisor's state file. */
function portFromState(dataDir: string, release: string): number | null {
  try {
    const s = JSON.parse(readFileSync(join(dataDir, 'state', 'processes.json'), 'utf8')) as { processes?: Array<{ release?: string; port?: number }> };
    return s.processes?.find((p) => p.release === release && typeof p.port === 'number')?.port ?? null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- one push

interface PushOutcome {
  run?: LiveRun;
  error?: string;
  deployMs?: number;
}

async function timedPush(o: LiveOptions, work: string, version: string, logLines: string[]): Promise<PushOutcome> {
  const { slip, gitEnv } = o;
  const commit = gitSync(['rev-parse', 'HEAD'], work, gitEnv);
  const url = slip.remote(LIVE_REPO);

  // The gateway's `deployed … commit=<sha> …` line (or `deploy failed`).
  let logged: { at: number; fields: Record<string, string> } | null = null;
  let onLogged: () => void = () => {};
  const unsubscribe = slip.onLine((l) => {
    const p = parseLogLine(l);
    if (!p || (p.fields.repo !== undefined && p.fields.repo !== LIVE_REPO)) return;
    if (p.fields.event === 'deployed' && p.fields.commit !== commit) return;
    logLines.push(l);
    logged = p;
    onLogged();
  });

  let port: number | null = null;
  let portFrom: LiveRun['portFrom'] = 'push output';
  let onPort: () => void = () => {};
  let stderr = '';
  let lineBuf = '';
  const seeLine = (l: string) => {
    if (port !== null) return;
    // `web: 1 healthy on 61002` while Start runs, or the summary `…: web 1/1 on port 61002 (0.15 s)`.
    const m = /healthy on (\d+)/.exec(l) ?? /\bon ports? (\d+)/.exec(l);
    if (m) {
      port = Number(m[1]);
      onPort();
    }
  };

  // ---- t0
  const t0Wall = Date.now();
  const t0 = performance.now();
  const cp = spawnTracked('git', ['push', '--progress', url, 'main'], { cwd: work, env: gitEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  cp.stdout!.resume();
  cp.stderr!.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    stderr += s;
    const parts = (lineBuf + s).split(/[\r\n]/);
    lineBuf = parts.pop() ?? '';
    for (const l of parts) seeLine(l);
  });
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => {
    cp.once('close', (code) => {
      if (lineBuf) seeLine(lineBuf);
      resolve({ code, at: performance.now() });
    });
    cp.once('error', () => resolve({ code: -1, at: performance.now() }));
  });
  const timeout = setTimeout(() => cp.kill('SIGKILL'), PUSH_TIMEOUT_MS);

  // Poll the new port (once known) until it answers with the new version.
  let stopPolling = false;
  let attempts = 0;
  let readyWall = NaN;
  const poll = (async (): Promise<number | null> => {
    if (port === null) await new Promise<void>((r) => (onPort = r));
    while (!stopPolling) {
      attempts++;
      try {
        const r = await get(port!);
        const [v, ready] = r.body.split('\n');
        if (r.status === 200 && v === version) {
          readyWall = Number(/^ready (\d+)$/.exec(ready ?? '')?.[1] ?? NaN);
          return performance.now();
        }
      } catch {
        /* not listening yet */
      }
      await sleep(POLL_MS);
    }
    return null;
  })();

  const exit = await exited;
  clearTimeout(timeout);
  const fail = (error: string): PushOutcome => {
    stopPolling = true;
    port ??= 0;
    onPort();
    unsubscribe();
    return { error };
  };
  const lastLines = () => stderr.split(/[\r\n]/).filter((l) => l.trim()).slice(-3).join(' | ');
  if (exit.code !== 0) return fail(`git push exited ${exit.code}: ${lastLines()}`);

  // The log line was written before the ref moved; give the pipe a moment.
  if (!logged) await Promise.race([new Promise<void>((r) => (onLogged = r)), sleep(3000)]);
  unsubscribe();
  const entry = logged as { at: number; fields: Record<string, string> } | null;
  if (!entry) return fail('no `deployed` line in the gateway log for this commit');
  if (entry.fields.event !== 'deployed') return fail(`gateway: deploy failed: ${entry.fields.reason ?? '?'}`);
  const f = entry.fields;
  const num = (k: string) => (f[k] === undefined ? NaN : Number(f[k]));

  if (port === null) {
    const p = portFromState(slip.dataDir, f.release ?? '');
    if (p === null) return fail(`no port in the push output nor in the state file for release ${f.release}; push said: ${lastLines()}`);
    portFrom = 'state file';
    port = p;
    onPort();
  }
  const answered = await Promise.race([poll, sleep(10_000).then(() => null)]);
  stopPolling = true;
  if (answered === null) return fail(`port ${port} did not answer ${JSON.stringify(version)} within 10 s of the push`);

  const deployMs = num('ms');
  const receiveMs = entry.at - deployMs - t0Wall;
  const buildMs = f.build_ms === undefined ? null : num('build_ms');
  const liveMs = answered - t0;
  const pushMs = exit.at - t0;
  const readyMs = readyWall - t0Wall;
  const r: LiveRun = {
    version,
    liveMs,
    pushMs,
    receiveMs,
    deployMs,
    checkoutMs: num('checkout_ms'),
    buildMs,
    spawnMs: num('spawn_ms'),
    healthMs: num('health_ms'),
    startMs: num('start_ms'),
    switchMs: num('switch_ms'),
    stopMs: num('stop_ms'),
    readyMs,
    healthLagMs: receiveMs + num('checkout_ms') + (buildMs ?? 0) + num('start_ms') - readyMs,
    restMs: liveMs - (receiveMs + num('checkout_ms') + (buildMs ?? 0) + num('start_ms') + num('switch_ms')),
    tailMs: pushMs - receiveMs - deployMs,
    port: port!,
    portFrom,
    attempts,
    release: f.release ?? '?',
  };
  return { run: r, deployMs };
}

// ---------------------------------------------------------------- the phase

export async function measurePushToLive(o: LiveOptions): Promise<LiveResult> {
  const work = join(o.dir, 'live-app');
  mkdirSync(work, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...o.gitEnv,
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  };
  const opts = { ...o, gitEnv: env };
  gitSync(['init', '-q', '-b', 'main'], work, env);
  // Its own package.json: the checkout lives under this repo, whose package.json says "type": "module".
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'bench-live-app', private: true, type: 'commonjs' }, null, 2) + '\n');
  gitSync(['add', 'package.json'], work, env);
  const commitVersion = (v: string) => {
    writeFileSync(join(work, 'server.js'), serverJs(v));
    gitSync(['add', 'server.js'], work, env);
    gitSync(['commit', '-q', '-m', `version ${v}`], work, env);
  };

  const result: LiveResult = { runs: [], errors: [], firstDeployMs: NaN, logLines: [] };
  const stamp = Date.now().toString(36);

  // First deploy (untimed in the table): nothing runs yet.
  commitVersion(`live ${stamp} v0`);
  const first = await timedPush(opts, work, `live ${stamp} v0`, result.logLines);
  if (first.error) {
    result.errors.push(`first deploy: ${first.error}`);
    return result;
  }
  result.firstDeployMs = first.deployMs ?? NaN;
  o.log(`  first deploy (untimed): deploy ${Math.round(result.firstDeployMs)} ms, first answer ${Math.round(first.run!.liveMs)} ms after push start`);

  for (let i = 1; i <= o.repeat; i++) {
    await sleep(300); // let the stopped release's processes and log writers go
    const v = `live ${stamp} v${i}`;
    commitVersion(v); // the one-line change: the VERSION constant
    const r = await timedPush(opts, work, v, result.logLines);
    if (r.error || !r.run) {
      result.errors.push(r.error ?? 'no result');
      o.log(`  run ${i}: ERROR ${r.error}`);
      continue;
    }
    const x = r.run;
    result.runs.push(x);
    const ms = (n: number | null) => (n === null ? '-' : Number.isFinite(n) ? n.toFixed(0) : 'n/a');
    o.log(
      `  run ${i}: live ${ms(x.liveMs)} ms (push exit ${ms(x.pushMs)}) = receive ${ms(x.receiveMs)} + checkout ${ms(x.checkoutMs)}` +
        `${x.buildMs === null ? '' : ` + build ${ms(x.buildMs)}`} + start ${ms(x.startMs)} (spawn ${ms(x.spawnMs)}, health ${ms(x.healthMs)}) + switch ${ms(x.switchMs)} + rest ${ms(x.restMs)}; ` +
        `app listening at ${ms(x.readyMs)}, start ended ${ms(x.healthLagMs)} later; ` +
        `then stop ${ms(x.stopMs)}, tail ${ms(x.tailMs)}; ${x.release} on port ${x.port} (from ${x.portFrom}, ${x.attempts} GET${x.attempts === 1 ? '' : 's'})`,
    );
  }
  return result;
}

// ---------------------------------------------------------------- cleanup of the detached apps

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Gone or a zombie. */
export function processGone(pid: number): boolean {
  const f = statFields(pid);
  return !f || f[0] === 'Z';
}

function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f && f[0] !== 'Z' && Number(f[2]) === pgid) out.push(Number(e));
  }
  return out;
}

function hasMarker(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${MARKER_VAR}=${marker}`);
  } catch {
    return false;
  }
}

/**
 * Synchronous (usable from exit handlers): SIGTERM to the process group of every process in
 * `<dataDir>/state/processes.json` that is still the recorded process (same start time), then to
 * any process still carrying the run's marker; SIGKILL whatever is left after 2 s.
 * Returns the group leaders signalled.
 */
export function killApps(dataDir: string, marker: string): number[] {
  const groups = new Set<number>();
  const file = join(dataDir, 'state', 'processes.json');
  if (existsSync(file)) {
    try {
      const s = JSON.parse(readFileSync(file, 'utf8')) as { processes?: Array<{ pid?: number | null; startTicks?: number | null }> };
      for (const p of s.processes ?? []) {
        if (!p.pid) continue;
        const f = statFields(p.pid);
        // field 22 of /proc/<pid>/stat (index 19 after the comm) is the start time: never signal a reused pid
        if (f && f[0] !== 'Z' && (p.startTicks == null || Number(f[19]) === p.startTicks)) groups.add(p.pid);
      }
    } catch {
      /* unreadable: the marker scan below still finds them */
    }
  }
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const pid = Number(e);
    if (!hasMarker(pid, marker)) continue;
    const f = statFields(pid);
    if (f && f[0] !== 'Z') groups.add(Number(f[2]));
  }
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const until = Date.now() + 2000;
  let left = [...groups].filter((g) => groupMembers(g).length > 0);
  while (left.length && Date.now() < until) {
    sleepSync(20);
    left = left.filter((g) => groupMembers(g).length > 0);
  }
  for (const g of left) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return [...groups];
}

/** Waits (synchronously, up to `ms`) for a process to end; SIGKILL if it does not. */
export function waitGoneSync(pid: number, ms: number): void {
  const until = Date.now() + ms;
  while (!processGone(pid) && Date.now() < until) sleepSync(20);
  if (!processGone(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
