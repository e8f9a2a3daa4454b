import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/lib/log.ts';
import { isSameProcess, readProcStat } from '../../src/runners/proc-stat.ts';
import { Supervisor, type ProcessSpec, type ProcessStatus } from '../../src/runners/supervisor.ts';

const SUPERVISOR_TS = fileURLToPath(new URL('../../src/runners/supervisor.ts', import.meta.url));
const APP_PATH = `${path.dirname(process.execPath)}:/usr/bin:/bin`;
/** The log writer's time (µs) and the release tag (the specs here are r1). */
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z r1 /;

// ---------------------------------------------------------------- cleanup of everything started here

const supervisors: Supervisor[] = [];
const seen = new Map<number, number>(); // pid → start ticks of every app seen, killed at the end if still there

function track(s: { pid: number | null } | undefined): void {
  const stat = s?.pid ? readProcStat(s.pid) : undefined;
  if (s?.pid && stat) seen.set(s.pid, stat.startTicks);
}

after(async () => {
  for (const sup of supervisors) {
    await Promise.all(sup.list().map((p) => sup.stop(p.id, 1000)));
    sup.detach();
  }
  for (const [pid, ticks] of seen) {
    if (isSameProcess(pid, ticks)) process.kill(-pid, 'SIGKILL');
  }
});

// ---------------------------------------------------------------- helpers

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-sup-'));
}

function quietLog(lines: string[] = []): Logger {
  const make = (): Logger => ({
    debug: (m) => void lines.push(m),
    info: (m) => void lines.push(m),
    warn: (m) => void lines.push(m),
    error: (m) => void lines.push(m),
    child: () => make(),
  });
  return make();
}

function supervisor(dir: string, opts: { lines?: string[]; maxBytes?: number; keep?: number; stateFile?: string } = {}): Supervisor {
  const sup = new Supervisor({
    stateFile: opts.stateFile ?? path.join(dir, 'state', 'processes.json'),
    log: quietLog(opts.lines),
    logLimits: { maxBytes: opts.maxBytes ?? 1024 * 1024, keep: opts.keep ?? 3 },
    backoff: { initialMs: 50, maxMs: 200 },
  });
  supervisors.push(sup);
  sup.on('restart', track);
  return sup;
}

function spec(dir: string, runner: string, cmd: string, env: Record<string, string> = {}): ProcessSpec {
  return {
    id: `app/feature/x/r1/${runner}/0`,
    repo: 'app',
    branch: 'feature/x',
    release: 'r1',
    runner,
    index: 0,
    cmd,
    cwd: dir,
    env: { PATH: APP_PATH, HOME: dir, ...env },
    logFile: path.join(dir, 'logs', `${runner}.0.log`),
  };
}

/** A node app that prints a numbered line every 50 ms (and its pid first). */
function tickingApp(dir: string): string {
  fs.writeFileSync(
    path.join(dir, 'tick.js'),
    `console.log('pid ' + process.pid); let i = 0; setInterval(() => console.log('tick ' + i++), 50);\n` +
      `process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });\n`,
  );
  return 'node tick.js';
}

async function start(sup: Supervisor, s: ProcessSpec): Promise<ProcessStatus> {
  const status = await sup.start(s);
  track(status);
  return status;
}

async function waitFor<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A log file's text, '' while it does not exist (a rotation may rename it between any two calls). */
function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function pidAlive(pid: number): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.state !== 'Z';
}

function savedIds(dir: string): string[] {
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state', 'processes.json'), 'utf8')) as { processes: { id: string }[] };
  return state.processes.map((p) => p.id);
}

// ---------------------------------------------------------------- tests

describe('supervisor', () => {
  test('start records the process before returning; stop ends it and forgets the record', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const s = spec(dir, 'web', tickingApp(dir));
    const status = await start(sup, s);
    assert.equal(status.state, 'running');
    assert.ok(status.pid && pidAlive(status.pid));
    assert.deepEqual(savedIds(dir), [s.id]);
    assert.equal(sup.isAlive(s.id), true);
    assert.deepEqual(sup.list((p) => p.branch === 'feature/x').map((p) => p.id), [s.id]);

    await sup.stop(s.id);
    assert.equal(pidAlive(status.pid), false);
    assert.equal(sup.get(s.id), undefined);
    assert.equal(sup.isAlive(s.id), false);
    assert.deepEqual(savedIds(dir), []);
  });

  test('stdout and stderr land in the log file, one timestamped line each, including what the app prints while stopping', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    fs.writeFileSync(path.join(dir, 'app.js'), `console.log('to stdout'); console.error('to stderr'); setInterval(() => {}, 1000);\n` + `process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });\n`);
    const s = spec(dir, 'web', 'node app.js');
    await start(sup, s);
    await waitFor('both lines', () => read(s.logFile).includes('to stderr') && read(s.logFile).includes('to stdout'));
    await sup.stop(s.id);
    await waitFor('the goodbye line', () => read(s.logFile).includes('bye'));
    const lines = read(s.logFile).trimEnd().split('\n');
    for (const line of lines) assert.match(line, TIMESTAMP);
    assert.deepEqual(lines.map((l) => l.replace(TIMESTAMP, '')).sort(), ['bye', 'to stderr', 'to stdout']);
  });

  test('the app gets exactly the environment of its spec, nothing of the gateway or the log writer', async () => {
    const dir = tempDir();
    process.env.SLIPWAY_GATEWAY_SECRET = 'leak';
    const sup = supervisor(dir);
    const s = spec(dir, 'env', 'env; sleep 600', { PORT: '61234' });
    await start(sup, s);
    await waitFor('env output', () => read(s.logFile).includes('PORT='));
    delete process.env.SLIPWAY_GATEWAY_SECRET;
    const names = read(s.logFile).trimEnd().split('\n').map((l) => l.replace(TIMESTAMP, '').split('=')[0]);
    // sh and bash set PWD, SHLVL and _ themselves.
    assert.deepEqual(names.filter((n) => !['PWD', 'SHLVL', '_'].includes(n!)).sort(), ['HOME', 'PATH', 'PORT']);
  });

  test('the log rotates by size and keeps the configured number of files', async () => {
    const dir = tempDir();
    const sup = supervisor(dir, { maxBytes: 2000, keep: 2 });
    const s = spec(dir, 'chatty', `i=0; while [ $i -lt 400 ]; do echo "line $i of some chatty output"; i=$((i+1)); done; echo done; sleep 600`);
    await start(sup, s);
    await waitFor('the last line', () => read(s.logFile).includes('done'));
    const names = fs.readdirSync(path.dirname(s.logFile)).sort();
    assert.deepEqual(names, ['chatty.0.log', 'chatty.0.log.1', 'chatty.0.log.2']);
    for (const n of names.slice(1)) {
      const size = fs.statSync(path.join(dir, 'logs', n)).size;
      assert.ok(size >= 2000 && size < 2100, `${n} is ${size} bytes`);
    }
    // Oldest to newest, the kept files hold the last lines in order, with nothing missing in between.
    const kept = [`${s.logFile}.2`, `${s.logFile}.1`, s.logFile].map(read).join('').trimEnd().split('\n');
    const numbers = kept.slice(0, -1).map((l) => Number(/ line (\d+) /.exec(l)![1]));
    assert.deepEqual(numbers, numbers.map((_, i) => 400 - numbers.length + i));
    assert.match(kept.at(-1)!, / done$/);
  });

  test('a killed app is restarted after a backoff and its restarts count goes up', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const crashes: ProcessStatus[] = [];
    sup.on('crash', (st: ProcessStatus) => crashes.push(st));
    const s = spec(dir, 'web', tickingApp(dir));
    const first = await start(sup, s);
    await waitFor('the app running', () => read(s.logFile).includes('tick 1'));
    process.kill(first.pid!, 'SIGKILL');
    const second = await waitFor('a new pid', () => {
      const st = sup.get(s.id);
      return st?.pid != null && st.pid !== first.pid ? st : undefined;
    });
    track(second);
    assert.equal(second.restarts, 1);
    assert.equal(second.state, 'running');
    assert.deepEqual(second.lastExit && { code: second.lastExit.code, signal: second.lastExit.signal }, { code: null, signal: 'SIGKILL' });
    assert.equal(crashes.length, 1);
    assert.equal(crashes[0]!.state, 'backoff');
    assert.equal(crashes[0]!.pid, null);
    // sh runs node as its child: killing sh orphaned the first node, which the crash cleanup ended.
    await waitFor('the orphaned first node ended', () => read(s.logFile).includes(' bye'));
    await waitFor('a second app start in the log', () => read(s.logFile).match(/ pid \d+\n/g)?.length === 2);
  });

  test('an app that keeps exiting reaches the crash-loop state and is still retried', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const s = spec(dir, 'bad', 'echo starting; exit 3');
    await start(sup, s);
    const looping = await waitFor('crash-loop', () => {
      const st = sup.get(s.id);
      return st?.state === 'crash-loop' && st;
    });
    assert.equal(looping.lastExit?.code, 3);
    assert.ok(looping.restarts >= 4);
    await waitFor('another retry', () => sup.get(s.id)!.restarts > looping.restarts);
  });

  test('stop() during the backoff cancels the restart', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const s = spec(dir, 'bad', 'exit 1');
    await start(sup, s);
    await waitFor('backoff', () => sup.get(s.id)?.state === 'backoff');
    await sup.stop(s.id);
    assert.equal(sup.get(s.id), undefined);
    await new Promise((r) => setTimeout(r, 300)); // longer than the max backoff: no restart may come
    assert.equal(sup.get(s.id), undefined);
    assert.deepEqual(savedIds(dir), []);
  });

  test('restart() is not a crash: new pid, same port, no restart counted', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const crashes: unknown[] = [];
    sup.on('crash', (st) => crashes.push(st));
    const s = { ...spec(dir, 'web', tickingApp(dir), { PORT: '61999' }), port: 61999 };
    const first = await start(sup, s);
    await sup.restart(s.id);
    const second = sup.get(s.id)!;
    track(second);
    assert.notEqual(second.pid, first.pid);
    assert.equal(pidAlive(first.pid!), false);
    assert.equal(second.port, 61999);
    assert.equal(second.restarts, 0);
    assert.deepEqual(crashes, []);
  });

  test('stop() ends the whole process group, including the children of sh', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const s = spec(dir, 'worker', 'sleep 600 & echo $! > kids; sleep 600 & echo $! >> kids; wait');
    await start(sup, s);
    const kids = await waitFor('child pids', () => {
      const pids = read(path.join(dir, 'kids')).trim().split('\n').filter(Boolean).map(Number);
      return pids.length === 2 && pids;
    });
    for (const pid of kids) assert.ok(pidAlive(pid));
    await sup.stop(s.id);
    for (const pid of kids) assert.equal(pidAlive(pid), false);
  });

  test('stop() kills the group after the grace period when the app ignores SIGTERM', async () => {
    const dir = tempDir();
    const sup = supervisor(dir);
    const s = spec(dir, 'stubborn', `trap '' TERM; echo ready; while :; do sleep 1; done`);
    const st = await start(sup, s);
    await waitFor('ready', () => read(s.logFile).includes('ready'));
    await sup.stop(s.id, 300);
    assert.equal(pidAlive(st.pid!), false);
  });

  test('a second supervisor on the same state file adopts the running process, and can stop it', async () => {
    const dir = tempDir();
    const first = supervisor(dir);
    const s = spec(dir, 'web', tickingApp(dir));
    const started = await start(first, s);
    first.detach();

    const lines: string[] = [];
    const second = supervisor(dir, { lines });
    await second.init();
    const adopted = second.get(s.id)!;
    assert.equal(adopted.pid, started.pid);
    assert.equal(adopted.state, 'running');
    assert.equal(adopted.startedAt, started.startedAt);
    assert.ok(lines.includes('adopted'));
    assert.equal(second.isAlive(s.id), true);

    await second.stop(s.id);
    assert.equal(pidAlive(started.pid!), false);
    assert.deepEqual(savedIds(dir), []);
  });

  test('an adopted process that dies is noticed and restarted', async () => {
    const dir = tempDir();
    const first = supervisor(dir);
    const s = spec(dir, 'web', tickingApp(dir));
    const started = await start(first, s);
    first.detach();
    const second = supervisor(dir);
    await second.init();
    process.kill(started.pid!, 'SIGKILL');
    const restarted = await waitFor('a restart', () => {
      const st = second.get(s.id);
      return st?.pid != null && st.pid !== started.pid ? st : undefined;
    });
    track(restarted);
    assert.equal(restarted.restarts, 1);
  });

  test('a record whose pid now belongs to another process is not adopted; that process is left alone', async () => {
    const dir = tempDir();
    const stranger = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    track({ pid: stranger.pid! });
    const stat = readProcStat(stranger.pid!)!;
    const s = spec(dir, 'web', tickingApp(dir));
    const record = { ...s, pid: stranger.pid, startTicks: stat.startTicks - 1, state: 'running', restarts: 0, startedAt: Date.now() };
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    fs.mkdirSync(path.join(dir, 'state'));
    fs.writeFileSync(path.join(dir, 'state', 'processes.json'), JSON.stringify({ version: 1, bootId, processes: [record] }));

    const sup = supervisor(dir);
    await sup.init();
    const st = sup.get(s.id)!;
    track(st);
    assert.notEqual(st.pid, stranger.pid);
    assert.equal(st.restarts, 1);
    await sup.stop(s.id);
    assert.ok(pidAlive(stranger.pid!), 'the stranger survived');
    process.kill(stranger.pid!, 'SIGKILL');
  });

  test('an unreadable state file is moved aside with one log line, and the supervisor starts empty', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'state'));
    fs.writeFileSync(path.join(dir, 'state', 'processes.json'), '{"version":1,"proc');
    fs.writeFileSync(path.join(dir, 'state', 'processes.json.tmp-1-abc'), 'half a write');
    const lines: string[] = [];
    const sup = supervisor(dir, { lines });
    await sup.init();
    assert.deepEqual(sup.list(), []);
    assert.equal(lines.length, 1);
    const names = fs.readdirSync(path.join(dir, 'state'));
    assert.ok(names.some((n) => n.startsWith('processes.json.corrupt-')));
    assert.ok(!names.some((n) => n.includes('.tmp-')));
  });

  test('apps keep running and logging after their gateway is killed; the next one adopts them', async () => {
    const dir = tempDir();
    const s = spec(dir, 'web', tickingApp(dir));
    const gatewayScript = path.join(dir, 'gateway.mts');
    fs.writeFileSync(
      gatewayScript,
      `import { Supervisor } from ${JSON.stringify(SUPERVISOR_TS)};\n` +
        `const log = { debug() {}, info() {}, warn() {}, error() {}, child() { return log; } };\n` +
        `const sup = new Supervisor({ stateFile: ${JSON.stringify(path.join(dir, 'state', 'processes.json'))}, log, logLimits: { maxBytes: 1e6, keep: 2 } });\n` +
        `await sup.init();\n` +
        `const st = await sup.start(${JSON.stringify(s)});\n` +
        `console.log(st.pid);\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const gateway = spawn(process.execPath, ['--import', 'tsx', gatewayScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    gateway.stdout.on('data', (d: Buffer) => (out += d));
    const appPid = Number(await waitFor('the app pid', () => out.includes('\n') && out.trim()));
    track({ pid: appPid });
    await waitFor('first ticks', () => read(s.logFile).includes('tick 2'));
    gateway.kill('SIGKILL');
    await new Promise((r) => gateway.once('exit', r));

    const ticksBefore = read(s.logFile).split('\n').filter((l) => l.includes(' tick ')).length;
    await waitFor('ticks written after the gateway died', () => read(s.logFile).split('\n').filter((l) => l.includes(' tick ')).length >= ticksBefore + 10);
    assert.ok(pidAlive(appPid), 'the app did not die of EPIPE');

    const sup = supervisor(dir);
    await sup.init();
    assert.equal(sup.get(s.id)?.pid, appPid);
    await sup.stop(s.id);
    assert.equal(pidAlive(appPid), false);
    assert.match(read(s.logFile), / bye\n$/);
  });

  const sandboxable = process.getuid?.() === 0 && fs.existsSync('/usr/bin/bwrap');
  test('a sandboxed app has the time its SIGTERM handler takes: the sandbox ends once the app has exited', { skip: !sandboxable && !process.env.CI && 'needs root and bwrap (package bubblewrap; CI has both)' }, async () => {
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, 'slow-stop.js'),
      `console.log('ready'); setInterval(() => {}, 1000);\n` +
        `process.on('SIGTERM', () => { console.log('stopping'); setTimeout(() => { console.log('stopped'); process.exit(0); }, 300); });\n`,
    );
    const sup = supervisor(dir);
    const confine = { mode: 'sandbox' as const, user: null, home: dir, writable: [dir], hidden: [], limits: { processes: null, openFiles: 0, memoryBytes: 0 } };
    const s = { ...spec(dir, 'web', 'node slow-stop.js'), confine };
    await start(sup, s);
    await waitFor('the app to start', () => / r1 ready\n/.test(read(s.logFile)));
    await sup.stop(s.id, 5000);
    assert.match(read(s.logFile), / r1 stopping\n.* r1 stopped\n$/s);
  });
});
