/**
 * Deploy test helpers: a fixture app written into a work repo, pushes whose output can be
 * watched while they run, HTTP probes, polling, and finding (and killing) every process a test
 * instance started: apps outlive the gateway, so each test marks its processes with a unique
 * `SLIPWAY_TEST_ID` in the branch `env` and kills whatever carries it at the end.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gitEnv, run, waitUntil, type Instance, type RunResult } from './instance.ts';

// ---------------------------------------------------------------- markers and processes

const markers = new Set<string>();
process.on('exit', () => {
  for (const m of markers) killApps(m);
});

/** A unique value for `SLIPWAY_TEST_ID`; everything carrying it is killed when the test process exits. */
export function newMarker(): string {
  const m = `t${crypto.randomBytes(6).toString('hex')}`;
  markers.add(m);
  return m;
}

/**
 * A backend port range of 50 ports nobody else in this test run is likely to use. `max` is
 * exclusive. Below 32768, where Linux hands out no ephemeral ports (its range is 32768-60999):
 * a client socket of any test can never sit on an app's port.
 */
export function portRange(): { min: number; max: number } {
  const min = 20000 + 50 * crypto.randomInt(0, 254);
  return { min, max: min + 50 };
}

export interface AppProcess {
  pid: number;
  env: Record<string, string>;
  cmdline: string[];
}

function readEnviron(pid: number): Record<string, string> | null {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
    const env: Record<string, string> = {};
    for (const kv of raw.split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return env;
  } catch {
    return null;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Every live process whose environment carries `SLIPWAY_TEST_ID=<marker>` (apps, hooks, custom commands). */
export function appProcesses(marker: string): AppProcess[] {
  const out: AppProcess[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const env = readEnviron(pid);
    if (!env || env.SLIPWAY_TEST_ID !== marker || isZombie(pid)) continue;
    let cmdline: string[] = [];
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    out.push({ pid, env, cmdline });
  }
  return out;
}

/** The marked node processes running `script` (e.g. `server.js`; not the shells around them), optionally of one release. */
export function scriptProcesses(marker: string, script: string, release?: string): AppProcess[] {
  return appProcesses(marker).filter(
    (p) => path.basename(p.cmdline[0] ?? '') === 'node' && p.cmdline.includes(script) && (release === undefined || p.env.SLIPWAY_RELEASE === release),
  );
}

/** The process group of `pid`, or null when it is gone. */
export function pgrpOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}

/** SIGKILLs every process carrying the marker until none is left. Synchronous (usable at exit). */
export function killApps(marker: string): number {
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    const procs = appProcesses(marker);
    if (procs.length === 0) return killed;
    for (const p of procs) {
      try {
        process.kill(p.pid, 'SIGKILL');
        killed++;
      } catch {
        /* already gone */
      }
    }
    const until = Date.now() + 20;
    while (Date.now() < until) {
      /* let the kernel reap */
    }
  }
  return killed;
}

/** Stops the gateway and kills every process the test's instance started. */
export async function stopAll(inst: Instance | undefined, marker: string): Promise<void> {
  if (inst) await inst.stop();
  killApps(marker);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !isZombie(pid);
}

// ---------------------------------------------------------------- polling and HTTP

/** `fn` returns something truthy within `timeoutMs` (instance.ts's one wait, probing every 100 ms). */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  return (await waitUntil(what, fn, Boolean, timeoutMs, 100)) as NonNullable<T>;
}

export interface AppAnswer {
  version: string;
  commit: string;
  /** on the host */
  pid: number;
  /** as the app sees itself (in its sandbox's pid namespace) */
  nsPid: number;
  release: string;
  port: number;
  cwd: string;
  env: Record<string, string>;
}

export function httpGet(port: number, urlPath = '/', timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${port}${urlPath} timed out`)));
    req.on('error', reject);
  });
}

/**
 * What the fixture app on `port` says about itself. A sandboxed app has a pid namespace of its
 * own, so the pid it reports is not the host's: `pid` is the host pid of the node process that
 * serves `port` (found through /proc), `nsPid` what the app said.
 */
export async function ask(port: number): Promise<AppAnswer> {
  const r = await httpGet(port, '/');
  assert.equal(r.status, 200, `port ${port}: ${r.body}`);
  const a = JSON.parse(r.body) as AppAnswer;
  const host = scriptProcesses(a.env.SLIPWAY_TEST_ID ?? '', 'server.js').filter((p) => p.env.PORT === String(port));
  return { ...a, nsPid: a.pid, pid: host.length === 1 ? host[0]!.pid : a.pid };
}

/** Polls `port` until the app there satisfies `ok`. */
export function waitForAnswer(port: number, ok: (a: AppAnswer) => boolean, timeoutMs = 20_000): Promise<AppAnswer> {
  return waitFor(async () => {
    const a = await ask(port);
    return ok(a) ? a : null;
  }, timeoutMs, `an answer on port ${port}`);
}

export async function refused(port: number): Promise<boolean> {
  try {
    await httpGet(port, '/', 1000);
    return false;
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------- the fixture app

/** A node HTTP server: JSON about itself on every path, /health by a file in the checkout, a log line per request. */
export const SERVER_JS = `const http = require('node:http');
const fs = require('node:fs');
const version = fs.readFileSync('version.txt', 'utf8').trim();
const port = Number(process.env.PORT);
const delay = fs.existsSync('slow_start') ? Number(fs.readFileSync('slow_start', 'utf8')) : 0;
const server = http.createServer((req, res) => {
  console.log('request ' + req.method + ' ' + req.url);
  if (req.url === '/health') {
    const bad = fs.existsSync('unhealthy');
    res.writeHead(bad ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(bad ? 'unhealthy\\n' : 'ok\\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ version, commit: process.env.GIT_COMMIT, pid: process.pid, release: process.env.SLIPWAY_RELEASE, port, cwd: process.cwd(), env: process.env }));
});
setTimeout(() => server.listen(port, () => console.log('listening on ' + port + ' version ' + version + ' pid ' + process.pid)), delay);
process.on('SIGTERM', () => { console.log('SIGTERM'); server.close(); process.exit(0); });
`;

/** A SimpleProcess: a line every 100 ms. */
export const WORKER_JS = `let n = 0;
console.log('worker start pid ' + process.pid + ' release ' + process.env.SLIPWAY_RELEASE);
setInterval(() => console.log('tick ' + (n++) + ' pid ' + process.pid), 100);
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * The build hook: records its environment, waits while the file $GATE exists in its HOME (the
 * app's data folder: the one place outside its checkout that a confined build and the test both
 * reach; see `gateFile`), fails when asked to.
 */
export const BUILD_SH = `echo "building version $(cat version.txt)"
env > build-env.txt
if [ -n "$GATE" ]; then while [ -e "$HOME/$GATE" ]; do sleep 0.1; done; fi
if [ -f build_fail ]; then echo "compile error: something broke"; echo "error on line 2"; exit 3; fi
echo "build done"
`;

/** Where the test puts the gate file named `name` of `repo` (GATE in the branch env is `name`). */
export function gateFile(inst: Instance, repo: string, name: string): string {
  return path.join(inst.dataDir, 'apps', repo, name);
}

export const MAINT_SH = `echo "maintenance for version $(cat version.txt)"
if [ -f maint_fail ]; then echo "migration failed"; exit 3; fi
echo "migrated"
`;

export interface AppFlags {
  /** /health answers 503 */
  unhealthy?: boolean;
  /** the build hook exits 3 */
  buildFail?: boolean;
  /** the maintenance hook exits 3 */
  maintFail?: boolean;
  /** the server waits this many ms before listening */
  slowStartMs?: number;
}

const FLAG_FILES = ['unhealthy', 'build_fail', 'maint_fail', 'slow_start'];

/** Writes the fixture app at `version` into `dir`, commits everything and returns the commit. */
export async function commitApp(dir: string, inst: Instance, version: string, flags: AppFlags = {}): Promise<string> {
  const env = gitEnv(inst.home);
  if (!fs.existsSync(path.join(dir, '.git'))) {
    fs.mkdirSync(dir, { recursive: true });
    await run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
  }
  fs.writeFileSync(path.join(dir, 'server.js'), SERVER_JS);
  fs.writeFileSync(path.join(dir, 'worker.js'), WORKER_JS);
  fs.writeFileSync(path.join(dir, 'build.sh'), BUILD_SH);
  fs.writeFileSync(path.join(dir, 'maint.sh'), MAINT_SH);
  fs.writeFileSync(path.join(dir, 'version.txt'), `${version}\n`);
  for (const f of FLAG_FILES) fs.rmSync(path.join(dir, f), { force: true });
  if (flags.unhealthy) fs.writeFileSync(path.join(dir, 'unhealthy'), '1\n');
  if (flags.buildFail) fs.writeFileSync(path.join(dir, 'build_fail'), '1\n');
  if (flags.maintFail) fs.writeFileSync(path.join(dir, 'maint_fail'), '1\n');
  if (flags.slowStartMs) fs.writeFileSync(path.join(dir, 'slow_start'), `${flags.slowStartMs}\n`);
  await run('git', ['add', '-A'], { cwd: dir, env });
  const r = await run('git', ['commit', '-q', '--allow-empty', '-m', `version ${version}`], { cwd: dir, env });
  if (r.code !== 0) throw new Error(`commit failed: ${r.stderr}`);
  return (await run('git', ['rev-parse', 'HEAD'], { cwd: dir, env })).stdout.trim();
}

// ---------------------------------------------------------------- pushes and output

export interface LivePush {
  child: ChildProcess;
  /** stdout + stderr so far */
  output(): string;
  /** resolves once the output matches */
  waitOutput(re: RegExp, timeoutMs?: number): Promise<string>;
  done: Promise<RunResult>;
  /** kills git and its ssh (the whole process group): the pusher disconnects */
  disconnect(): void;
}

/** Starts `git <args>` through ssh as `user` without waiting: its output can be watched while it runs. */
export function gitLive(inst: Instance, args: string[], opts: { cwd: string; user?: string }): LivePush {
  const user = opts.user ?? Object.keys(inst.keys)[0]!;
  const child = spawn('git', args, {
    cwd: opts.cwd,
    env: gitEnv(inst.home, { GIT_SSH_COMMAND: inst.sshCommand(user) }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
  const output = () => stdout + stderr;
  return {
    child,
    output,
    done,
    waitOutput: (re, timeoutMs = 30_000) =>
      waitFor(() => (re.test(output()) ? output() : null), timeoutMs, `${re} in the output of git ${args.join(' ')}; so far:\n${output()}`),
    disconnect: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}

/** An `ssh <host> <command…>` left running (a follower), its stdout collected. */
export interface LiveSsh {
  child: ChildProcess;
  output(): string;
  /** resolves with the output once `re` matches it */
  wait(re: RegExp, timeoutMs?: number): Promise<string>;
  /** its exit status and output, once it ends */
  done: Promise<RunResult>;
  kill(): void;
}

export function sshLive(inst: Instance, user: string, command: string[]): LiveSsh {
  const child = spawn('ssh', [...inst.sshCommand(user).split(' ').slice(1), '-p', String(inst.port), 'paas@127.0.0.1', ...command], {
    env: gitEnv(inst.home),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: out, stderr: err }));
  });
  return {
    child,
    output: () => out,
    done,
    wait: (re, timeoutMs = 20_000) => waitFor(() => (re.test(out) ? out : null), timeoutMs, `${re} from 'ssh ${command.join(' ')}'; so far:\n${out}${err}`),
    kill: () => child.kill('SIGKILL'),
  };
}

export interface Summary {
  repo: string;
  branch: string;
  short: string;
  /** runner name → ports (empty for SimpleProcess) and process counts */
  runners: Record<string, { running: number; wanted: number; ports: number[] }>;
  line: string;
}

/** The last line of a deploy: `hello/main a1b2c3d4: web 2/2 on ports 61502,61503; worker 1/1 (3.1 s)`. */
export function parseSummary(output: string): Summary {
  const lines = output.split('\n').map((l) => l.replace(/^remote: /, '').trim());
  const re = /^(\S+?)\/(\S+) ([0-9a-f]{8}): (.*) \(\d+(?:\.\d+)? s\)$/;
  const line = [...lines].reverse().find((l) => re.test(l));
  assert.ok(line, `no deploy summary line in:\n${output}`);
  const m = re.exec(line)!;
  const runners: Summary['runners'] = {};
  for (const part of m[4]!.split('; ')) {
    const pm = /^(\S+) (\d+)\/(\d+)(?: on ports? ([\d,]+))?$/.exec(part);
    if (!pm) continue;
    runners[pm[1]!] = { running: Number(pm[2]), wanted: Number(pm[3]), ports: pm[4] ? pm[4].split(',').map(Number) : [] };
  }
  return { repo: m[1]!, branch: m[2]!, short: m[3]!, runners, line };
}

export interface StatusProcess {
  runner: string;
  index: number;
  release: string;
  state: string;
  pid: number | null;
  port: number | null;
  restarts: number;
  line: string;
}

export interface BranchStatus {
  head: string;
  processes: StatusProcess[];
}

/** `ssh … status <repo> <branch>`, parsed. */
export async function status(inst: Instance, user: string, repo: string, branch: string): Promise<BranchStatus> {
  const r = await inst.ssh(user, ['status', repo, branch]);
  assert.equal(r.code, 0, `status failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter(Boolean);
  const head = lines.find((l) => l.startsWith(`${repo}/${branch}:`));
  assert.ok(head, `no '${repo}/${branch}:' line in status:\n${r.stdout}`);
  const processes: StatusProcess[] = [];
  for (const l of lines.slice(lines.indexOf(head) + 1)) {
    if (!l.startsWith('  ')) break;
    if (/^ {2}\S+ \(/.test(l)) continue; // a runner's line: `  web (NginxBackend): running, 2/2`
    const m = /^\s+(\S+)\.(\d+) (\S+) (\S+) pid (\d+|-)(?: port (\d+))? restarts (\d+)/.exec(l);
    assert.ok(m, `unparsable status line: ${l}`);
    processes.push({
      runner: m[1]!,
      index: Number(m[2]),
      release: m[3]!,
      state: m[4]!,
      pid: m[5] === '-' ? null : Number(m[5]),
      port: m[6] ? Number(m[6]) : null,
      restarts: Number(m[7]),
      line: l,
    });
  }
  return { head, processes };
}

/** `ssh … releases <repo> <branch>`: newest first, `current` from the `*`; a line is `* r3  <what>  by <user>  <sha12>  <time>  <duration>`. */
export async function releases(inst: Instance, user: string, repo: string, branch: string): Promise<{ list: { id: string; short: string; current: boolean }[]; current: string | null; text: string }> {
  const r = await inst.ssh(user, ['releases', repo, branch]);
  assert.equal(r.code, 0, `releases failed: ${r.stderr}`);
  const list = r.stdout
    .split('\n')
    .map((l) => /^([* ]) (r\d+)\s.*\s([0-9a-f]{12})\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+[\d.]+ s$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ id: m[2]!, short: m[3]!, current: m[1] === '*' }));
  return { list, current: list.find((x) => x.current)?.id ?? null, text: r.stdout };
}

export interface BranchStateFile {
  seq: number;
  current: string | null;
  releases: { id: string; commit: string; checkout: string }[];
  pending: { id: string; commit: string; checkout: string; hook?: { pgid: number } | null } | null;
}

export function branchState(inst: Instance, repo: string, branch: string): BranchStateFile {
  const file = path.join(inst.dataDir, 'state', 'branches', repo, `${branch.replace(/%/g, '%25').replace(/\//g, '%2F')}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as BranchStateFile;
}

export function checkoutsOf(inst: Instance, repo: string, branch: string): string[] {
  try {
    return fs.readdirSync(path.join(inst.dataDir, 'checkouts', repo, branch.replace(/%/g, '%25').replace(/\//g, '%2F'))).sort();
  } catch {
    return [];
  }
}

export function logDir(inst: Instance, repo: string, branch: string): string {
  return path.join(inst.dataDir, 'logs', repo, branch.replace(/%/g, '%25').replace(/\//g, '%2F'));
}

/** Lines git printed from the remote, without the `remote: ` prefix. */
export function remoteLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('remote: '))
    .map((l) => l.slice('remote: '.length).replace(/\s+$/, ''));
}

/** Sends SIGHUP and waits until the gateway logged the reload. */
export async function reloadConfig(inst: Instance): Promise<void> {
  const before = (inst.output.match(/config reloaded/g) ?? []).length;
  inst.proc!.kill('SIGHUP');
  await waitFor(() => (inst.output.match(/config reloaded/g) ?? []).length > before, 20_000, `'config reloaded' in the gateway output:\n${inst.output.slice(-2000)}`);
}
