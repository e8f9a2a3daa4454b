/**
 * `npm run bench [-- --quick] [-- --native-only] [-- --repeat N] [-- --live-repeat N] [-- --keep] [-- --no-history] [-- --no-logs]`
 *
 * Compares slipway's built-in git-over-SSH with native git behind OpenSSH's sshd, on loopback, in
 * the same run: fresh push, incremental push, clone (median of N runs each), plus slipway's memory.
 * Then slipway alone: push-to-live of a one-line change to a deployed app (no native equivalent).
 * A benchmark, not a test: exits 0 whatever the numbers; exits 1 only when setup fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { randomInt } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB, RssSampler, fmtMiB, fmtMs, idleRss, median, readVmRss } from './measure.ts';
import { SSHD, startNativeSshd, type NativeSshd } from './native-sshd.ts';
import { cleanupAll, installSignalHandlers, onCleanup, run, runOk } from './procs.ts';
import { LIVE_REPO, killApps, liveRepoYaml, measurePushToLive, parseLogLine, processGone, waitGoneSync, type LiveResult, type LiveRun } from './push-to-live.ts';
import { SPECS, ensureRepo, type GeneratedRepo } from './repo-gen.ts';
import { NGINX_HOST, NGINX_REPO, measureNginxLive, nginxBinary, nginxDomainYaml, nginxRepoYaml, stopNginx, type NginxLiveResult } from './nginx-live.ts';
import { startSlipway, type SlipwayInstance } from './slipway-instance.ts';
import { historyMarkdown, measureHistory, ratioLine, type HistoryResult } from './history.ts';
import { measureDashboards, printDashboardRows } from './dashboards.ts';
import { LONG_HISTORY, ensureLongHistory } from './history-gen.ts';
import { benchGc, gcMarkdown, type GcBenchResult } from './gc.ts';
import { logsFollowRows, measureLogsFollow, type LogsFollowResult } from './logs-follow.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, 'bench', '.work');

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const opt = {
  quick: argv.includes('--quick'),
  nativeOnly: argv.includes('--native-only'),
  keep: argv.includes('--keep'),
  history: !argv.includes('--no-history'),
  dashboards: !argv.includes('--no-dashboards'),
  logs: !argv.includes('--no-logs'),
  repeat: (argv.includes('--repeat') && Number(argv[argv.indexOf('--repeat') + 1])) || 3,
  liveRepeat: (argv.includes('--live-repeat') && Number(argv[argv.indexOf('--live-repeat') + 1])) || (argv.includes('--quick') ? 3 : 5),
};
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: npm run bench [-- --quick] [--native-only] [--repeat N] [--live-repeat N] [--keep] [--no-history] [--no-logs]');
  process.exit(0);
}

const log = (msg: string) => console.log(`bench: ${msg}`);

class SetupError extends Error {}

// ---------------------------------------------------------------- setup helpers

function have(cmd: string): boolean {
  return cmd.startsWith('/') ? existsSync(cmd) : spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Client tools and sshd. Installs them with apt-get when running as root, else says what to install. */
function ensureTools(): void {
  const needs: Array<[string, string]> = [
    ['git', 'git'],
    ['ssh', 'openssh-client'],
    ['ssh-keygen', 'openssh-client'],
    [SSHD, 'openssh-server'],
  ];
  const missingPkgs = () => [...new Set(needs.filter(([c]) => !have(c)).map(([, p]) => p))];
  let missing = missingPkgs();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new SetupError(`missing ${needs.filter(([c]) => !have(c)).map(([c]) => c).join(', ')}; install the Debian package(s): sudo apt-get install -y ${missing.join(' ')}`);
  }
  log(`installing ${missing.join(' ')} with apt-get …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env });
  }
  missing = missingPkgs();
  if (missing.length) throw new SetupError(`apt-get install -y ${missing.join(' ')} did not provide the tools`);
}

/** Remove run dirs of earlier benches that died without cleaning up, stopping their sshd/slipway. */
function cleanStaleRuns(): void {
  if (!existsSync(WORK)) return;
  for (const d of readdirSync(WORK)) {
    const m = /^run-(\d+)$/.exec(d);
    if (!m) continue;
    const pid = Number(m[1]);
    const alive = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bench/run.ts');
      } catch {
        return false;
      }
    })();
    if (alive) continue;
    const dir = join(WORK, d);
    const signalled: number[] = [];
    for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir + '/')) {
          process.kill(Number(p), 'SIGTERM');
          signalled.push(Number(p));
        }
      } catch {
        /* gone */
      }
    }
    // Once its slipway is gone (nothing restarts them), the deployed apps, which are detached from
    // it: by its state file and the run's marker.
    const until = Date.now() + 3000;
    for (const p of signalled) waitGoneSync(p, Math.max(0, until - Date.now()));
    const stopped = killApps(join(dir, 'slipway', 'data'), dir);
    if (stopped.length) log(`stale ${d}: stopped ${stopped.length} leftover app process group(s)`);
    rmSync(dir, { recursive: true, force: true });
  }
}

function cmdOut(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return ((r.stdout || '') + (r.stderr || '')).trim().split('\n')[0] ?? '';
}

function machine(): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `nproc ${cmdOut('nproc', [])}, ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
    `node ${process.version}, ${cmdOut('git', ['--version'])}, ${cmdOut('ssh', ['-V'])}`,
  ];
}

// ---------------------------------------------------------------- sides

interface Side {
  name: 'native' | 'slipway';
  /** fresh (empty) remote for `id`, returns its URL */
  prepare(id: string): Promise<string>;
}

interface OpResult {
  times: number[];
  errors: string[];
}

const newResult = (): OpResult => ({ times: [], errors: [] });

function firstLines(s: string, n = 4): string {
  return s
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, n)
    .join(' | ');
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  installSignalHandlers();
  ensureTools();
  mkdirSync(WORK, { recursive: true });
  cleanStaleRuns();
  const runDir = join(WORK, `run-${process.pid}`);
  mkdirSync(runDir, { recursive: true });
  if (!opt.keep) onCleanup(() => rmSync(runDir, { recursive: true, force: true }));

  const info = machine();
  log(`${opt.quick ? 'QUICK (smoke) run' : 'full run'}, ${opt.repeat} repeats; ${info.join('; ')}`);

  // Client key shared by both servers.
  const key = join(runDir, 'client_ed25519');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-bench', '-f', key]);
  const gitEnv: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_SSH_COMMAND: `ssh -F /dev/null -i '${key}' -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
  };
  const git = (args: string[], cwd?: string) => run('git', args, { env: gitEnv, ...(cwd ? { cwd } : {}) });

  // Test repos (cached).
  const repo: GeneratedRepo = ensureRepo(WORK, opt.quick ? SPECS.quick : SPECS.full, log);
  const big: GeneratedRepo = ensureRepo(WORK, opt.quick ? SPECS.bigQuick : SPECS.bigFull, log);
  log(
    `repo ${repo.name}: ${repo.files} files, ${fmtMiB(repo.treeBytes)} tree, ${repo.commits} commits, ${fmtMiB(repo.packBytes)} packed; ` +
      `big ${big.name}: ${big.files} random blobs, ${fmtMiB(big.packBytes)} packed`,
  );

  // Servers.
  const ids = [
    'bench',
    ...Array.from({ length: opt.repeat }, (_, i) => `bench-fresh-${i + 1}`),
    ...Array.from({ length: opt.repeat }, (_, i) => `bench-inc-${i + 1}`),
    'bench-big',
  ];
  let sshd: NativeSshd;
  try {
    sshd = await startNativeSshd(join(runDir, 'native'), `${key}.pub`);
  } catch (e) {
    throw new SetupError(`native sshd: ${(e as Error).message}`);
  }
  onCleanup(() => process.kill(sshd.pid, 'SIGTERM'));
  log(`native: sshd pid ${sshd.pid} on 127.0.0.1:${sshd.port} (user ${sshd.user})`);

  let slip: SlipwayInstance | undefined;
  let nginxPort: number | undefined;
  let liveMin = -1000;
  const slipDeploys = new Map<string, { ms: number; checkoutMs: number }>();
  if (!opt.nativeOnly) {
    // Backend ports for the push-to-live app: 50 ports below the ephemeral range, at random.
    const min = 20000 + 50 * randomInt(0, 250);
    const ports = { min, max: min + 50 };
    liveMin = min;
    const slipDir = join(runDir, 'slipway');
    let slipPid: number | undefined;
    // Push-to-live through nginx runs when nginx is installed: a domain of slipway's managed nginx on the port after the app range.
    nginxPort = nginxBinary() ? ports.max : undefined;
    // The deployed app outlives slipway (detached by design): on every exit path, once slipway
    // is gone (so nothing restarts them), stop its process groups. Runs before runDir is removed.
    onCleanup(() => {
      const pid = slipPid;
      if (pid !== undefined && !processGone(pid)) {
        let ours = false;
        try {
          ours = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(slipDir);
        } catch {
          /* gone */
        }
        if (ours) waitGoneSync(pid, 3000);
      }
      killApps(join(slipDir, 'data'), runDir);
      stopNginx(join(slipDir, 'data'));
    });
    try {
      slip = await startSlipway({
        root: ROOT,
        dir: slipDir,
        publicKey: readFileSync(`${key}.pub`, 'utf8'),
        repos: [...ids, LIVE_REPO, ...(nginxPort ? [NGINX_REPO] : [])],
        repoYaml: { [LIVE_REPO]: liveRepoYaml(runDir), ...(nginxPort ? { [NGINX_REPO]: nginxRepoYaml(runDir) } : {}) },
        ports,
        mainExtra: nginxPort ? [`nginx: {address: 127.0.0.1, http_port: ${nginxPort}}`] : [],
        domains: nginxPort ? { [NGINX_HOST]: nginxDomainYaml() } : undefined,
      });
    } catch (e) {
      throw new SetupError(`slipway: ${(e as Error).message}`);
    }
    slipPid = slip.pid;
    log(`slipway: pid ${slip.pid} on 127.0.0.1:${slip.port}, app ports ${ports.min}-${ports.max - 1}`);
    // A push to a configured branch deploys before the ref moves, even without runners (then the
    // deploy is a checkout of the pushed tree): note each deploy's time, it is inside the timed push.
    slip.onLine((l) => {
      const p = parseLogLine(l);
      if (p?.fields.event === 'deployed') slipDeploys.set(`${p.fields.repo}#${p.fields.release}`, { ms: Number(p.fields.ms), checkoutMs: Number(p.fields.checkout_ms) });
    });
  }

  const nativeSide: Side = {
    name: 'native',
    prepare: async (id) => {
      const p = join(runDir, 'native', 'repos', `${id}.git`);
      rmSync(p, { recursive: true, force: true });
      await sshd.initBare(p);
      return sshd.remote(p);
    },
  };
  const sides: Side[] = [nativeSide];
  if (slip) {
    const s = slip;
    sides.push({ name: 'slipway', prepare: async (id) => s.remote(id) });
  }

  // Readiness: both servers answer ls-remote on an empty repo.
  for (const side of sides) {
    const url = await side.prepare('bench');
    const r = await git(['ls-remote', url]);
    if (r.code !== 0) throw new SetupError(`${side.name}: git ls-remote ${url} failed: ${firstLines(r.stderr, 2)}`);
  }

  // What each server negotiates with the same OpenSSH client (explains handshake-cost differences).
  const negotiated: string[] = [];
  for (const side of sides) {
    const url = await side.prepare('bench');
    const r = await run('git', ['ls-remote', url], { env: { ...gitEnv, GIT_SSH_COMMAND: `${gitEnv.GIT_SSH_COMMAND} -v` } });
    const kex = /kex: algorithm: (\S+)/.exec(r.stderr)?.[1] ?? '?';
    const hostkey = /kex: host key algorithm: (\S+)/.exec(r.stderr)?.[1] ?? '?';
    const cipher = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(r.stderr);
    negotiated.push(`${side.name}: kex ${kex}, host key ${hostkey}, cipher ${cipher?.[1] ?? '?'}${cipher?.[2] && cipher[2] !== '<implicit>' ? ` + ${cipher[2]}` : ''}`);
  }
  log(`ssh negotiated: ${negotiated.join('; ')}`);

  // ------------------------------------------------------------ helpers for operations

  const remoteHead = async (url: string): Promise<string> => {
    const r = await git(['ls-remote', url, 'refs/heads/main']);
    return r.code === 0 ? (r.stdout.split(/\s/)[0] ?? '') : `ls-remote failed: ${firstLines(r.stderr, 2)}`;
  };

  /** timed `git push <url> <refspec>`, then (untimed) check the remote ref */
  const timedPush = async (src: GeneratedRepo, url: string, refspec: string, expect: string): Promise<{ ms: number; error?: string }> => {
    const r = await git(['push', '-q', url, refspec], src.dir);
    if (r.code !== 0) return { ms: r.ms, error: `git push exited ${r.code ?? r.signal}: ${firstLines(r.stderr)}` };
    const got = await remoteHead(url);
    if (got !== expect) return { ms: r.ms, error: `after push, remote main is ${got || '(missing)'}, expected ${expect}` };
    return { ms: r.ms };
  };

  const timedClone = async (url: string, expect: string): Promise<{ ms: number; error?: string }> => {
    const dest = join(runDir, 'clone.git');
    rmSync(dest, { recursive: true, force: true });
    const r = await git(['clone', '-q', '--bare', url, dest]);
    try {
      if (r.code !== 0) return { ms: r.ms, error: `git clone exited ${r.code ?? r.signal}: ${firstLines(r.stderr)}` };
      const head = await git(['--git-dir', dest, 'rev-parse', 'refs/heads/main']);
      if (head.stdout.trim() !== expect) return { ms: r.ms, error: `clone has main=${head.stdout.trim() || '(missing)'}, expected ${expect}` };
      return { ms: r.ms };
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  };

  const results = new Map<string, Record<Side['name'], OpResult>>();
  const slot = (op: string, side: Side['name']): OpResult => {
    let r = results.get(op);
    if (!r) results.set(op, (r = { native: newResult(), slipway: newResult() }));
    return r[side];
  };
  const record = (op: string, side: Side, res: { ms: number; error?: string }) => {
    const s = slot(op, side.name);
    if (res.error) {
      s.errors.push(res.error);
      log(`  ${side.name}: ERROR ${res.error}`);
    } else s.times.push(res.ms);
  };
  /** alternate which side goes first on each repeat to spread any warm-cache bias */
  const order = (i: number) => (i % 2 === 0 ? sides : [...sides].reverse());

  // ------------------------------------------------------------ memory (first, from a clean idle state)

  let slipIdle = NaN;
  let sampler: RssSampler | undefined;
  if (slip) {
    await new Promise((r) => setTimeout(r, 1000));
    slipIdle = await idleRss(slip.pid, 1000);
    sampler = new RssSampler(slip.pid, 'self', true).start();
    log(`slipway idle RSS ${fmtMiB(slipIdle)}`);
  }
  const nativeIdle = readVmRss(sshd.pid) ?? NaN;
  const mem = { nativePush: NaN, nativeClone: NaN, slipPush: NaN, slipClone: NaN };
  const bigMiB = Math.round(big.packBytes / MiB);
  const OP_BIG_PUSH = `fresh push, ${bigMiB} MiB random blobs (1 run)`;
  const OP_BIG_CLONE = `clone --bare, ${bigMiB} MiB random blobs (1 run)`;
  log(`memory: push + clone of ${big.name} (${fmtMiB(big.packBytes)} pack)`);
  for (const side of sides) {
    const url = await side.prepare('bench-big');
    const s = side.name === 'slipway' ? sampler! : new RssSampler(sshd.pid, 'tree').start();
    s.mark();
    const p = await timedPush(big, url, 'main', big.head);
    const pushPeak = s.peak();
    record(OP_BIG_PUSH, side, p);
    s.mark();
    const c = p.error ? { ms: NaN, error: 'skipped: push failed' } : await timedClone(url, big.head);
    const clonePeak = s.peak();
    record(OP_BIG_CLONE, side, c);
    if (side.name === 'native') {
      s.stop();
      mem.nativePush = pushPeak;
      mem.nativeClone = clonePeak;
    } else {
      mem.slipPush = pushPeak - slipIdle;
      mem.slipClone = clonePeak - slipIdle;
    }
    log(`  ${side.name}: push ${fmtMs(p.ms)}, peak ${fmtMiB(pushPeak)}; clone ${fmtMs(c.ms)}, peak ${fmtMiB(clonePeak)}`);
  }

  // ------------------------------------------------------------ timings

  const OP_FRESH = `fresh push, full history (${repo.commits} commits, ${repo.files} files, ${Math.round(repo.packBytes / MiB)} MiB pack)`;
  const OP_INC = `incremental push (1 commit, ${repo.incrementalFiles} files changed)`;
  const OP_CLONE = `clone --bare, full history`;
  const OP_CONNECT = 'ls-remote of an empty repo (SSH handshake + ref advertisement)';
  const slipPeaks: Record<string, number> = {};
  const phase = async (op: string, body: (side: Side, i: number) => Promise<{ ms: number; error?: string }>) => {
    log(op);
    sampler?.mark();
    for (let i = 0; i < opt.repeat; i++) {
      for (const side of order(i)) {
        const res = await body(side, i);
        record(op, side, res);
      }
    }
    if (sampler) slipPeaks[op] = sampler.peak() - slipIdle;
    for (const side of sides) {
      const s = slot(op, side.name);
      log(`  ${side.name}: ${s.times.map(fmtMs).join(', ') || '-'}${s.errors.length ? ` (${s.errors.length} failed)` : ''}`);
    }
  };

  await phase(OP_CONNECT, async (side) => {
    const r = await git(['ls-remote', await side.prepare('bench')]);
    return r.code === 0 ? { ms: r.ms } : { ms: r.ms, error: `git ls-remote exited ${r.code ?? r.signal}: ${firstLines(r.stderr)}` };
  });
  await phase(OP_FRESH, async (side, i) => timedPush(repo, await side.prepare(`bench-fresh-${i + 1}`), 'main', repo.head));
  await phase(OP_INC, async (side, i) => {
    const url = await side.prepare(`bench-inc-${i + 1}`);
    const pre = await timedPush(repo, url, `${repo.parent}:refs/heads/main`, repo.parent);
    if (pre.error) return { ms: NaN, error: `untimed push of HEAD~1 failed: ${pre.error}` };
    return timedPush(repo, url, 'main', repo.head);
  });
  await phase(OP_CLONE, async (side) => {
    // bench-inc-1 holds the full history (HEAD~1 + the incremental commit) on both sides.
    const url = side.name === 'native' ? sshd.remote(join(runDir, 'native', 'repos', 'bench-inc-1.git')) : slip!.remote('bench-inc-1');
    return timedClone(url, repo.head);
  });

  const slipEnd = slip ? (readVmRss(slip.pid) ?? NaN) : NaN;
  sampler?.stop();

  // ------------------------------------------------------------ push-to-live (slipway only)

  let live: LiveResult | undefined;
  let nginxLive: NginxLiveResult | undefined;
  if (slip) {
    log(`push-to-live: one-line change to a node HTTP app (NginxBackend, no build), ${opt.liveRepeat} timed pushes after an untimed first deploy`);
    live = await measurePushToLive({ slip, dir: runDir, gitEnv, repeat: opt.liveRepeat, log });
    if (nginxPort) {
      log(`push-to-live through nginx: the same change, ${opt.liveRepeat} redeploys, a client every 20 ms on fresh connections through the managed nginx (127.0.0.1:${nginxPort}, Host ${NGINX_HOST})`);
      nginxLive = await measureNginxLive({ slip, dir: runDir, gitEnv, repeat: opt.liveRepeat, httpPort: nginxPort, log });
    } else {
      log('push-to-live through nginx: skipped (no nginx binary; Debian: apt-get install nginx)');
    }
  }

  // ------------------------------------------------------------ logs -f (its own gateway, beside native tail -F)

  let logsFollow: LogsFollowResult | undefined;
  if (opt.logs && !opt.nativeOnly) {
    let min: number;
    do min = 20000 + 50 * randomInt(0, 250);
    while (Math.abs(min - liveMin) < 100);
    const dir = join(runDir, 'logs');
    onCleanup(() => killApps(join(dir, 'slipway', 'data'), dir));
    try {
      const m = await measureLogsFollow({ root: ROOT, dir, key, gitEnv, sshd, ports: { min, max: min + 50 }, log });
      logsFollow = m.result;
      log(`logs gateway ${await m.slip.stop()}`);
    } catch (e) {
      log(`logs -f: ERROR ${(e as Error).message}`);
    }
  }

  // ------------------------------------------------------------ report

  type Row = [op: string, native: string, slipway: string, ratio: string, target: string, result: string];
  const rows: Row[] = [];
  const timeRow = (op: string, target?: number) => {
    const r = results.get(op);
    const n = r?.native ?? newResult();
    const s = r?.slipway ?? newResult();
    const nm = n.errors.length ? NaN : median(n.times);
    const sm = s.errors.length ? NaN : median(s.times);
    const ratio = sm / nm;
    const result = !slip ? '-' : s.errors.length ? 'FAIL' : n.errors.length ? 'n/a' : target === undefined ? '-' : ratio <= target ? 'PASS' : 'MISS';
    rows.push([
      op,
      n.errors.length ? 'error' : fmtMs(nm),
      !slip ? 'not run' : s.errors.length ? 'error' : fmtMs(sm),
      Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-',
      target === undefined ? '-' : `<= ${target}x`,
      result,
    ]);
  };
  timeRow(OP_CONNECT);
  timeRow(OP_FRESH, 1.5);
  timeRow(OP_INC, 1.5);
  timeRow(OP_CLONE, 2);
  timeRow(OP_BIG_PUSH, 1.5);
  timeRow(OP_BIG_CLONE, 2);
  rows.push(['memory: idle RSS (native: sshd listener)', fmtMiB(nativeIdle), slip ? fmtMiB(slipIdle) : 'not run', '-', '-', '-']);
  const memRow = (op: string, native: number, slipDelta: number, failed: boolean) =>
    rows.push([
      op,
      fmtMiB(native),
      !slip ? 'not run' : failed ? 'error' : `+${fmtMiB(slipDelta)}`,
      '-',
      '<= +100 MiB',
      !slip ? '-' : failed ? 'FAIL' : slipDelta <= 100 * MiB ? 'PASS' : 'MISS',
    ]);
  const bigPushFailed = (results.get(OP_BIG_PUSH)?.slipway.errors.length ?? 0) > 0;
  const bigCloneFailed = (results.get(OP_BIG_CLONE)?.slipway.errors.length ?? 0) > 0;
  memRow(`memory: peak above idle during ${bigMiB} MiB push`, mem.nativePush, mem.slipPush, bigPushFailed);
  memRow(`memory: peak above idle during ${bigMiB} MiB clone`, mem.nativeClone, mem.slipClone, bigCloneFailed);
  const LIVE_TARGET_MS = 1000;
  const liveMedian = live && live.runs.length ? median(live.runs.map((r) => r.liveMs)) : NaN;
  if (slip) {
    const failed = !live || live.errors.length > 0;
    rows.push([
      `push-to-live: one-line change, no build (median of ${opt.liveRepeat})`,
      'no equivalent',
      failed ? 'error' : fmtMs(liveMedian),
      '-',
      '< 1 s',
      failed ? 'FAIL' : liveMedian < LIVE_TARGET_MS ? 'PASS' : `MISS (+${fmtMs(liveMedian - LIVE_TARGET_MS)})`,
    ]);
  }

  if (slip && nginxPort) {
    const n = nginxLive;
    const failedRun = !n || n.errors.length > 0 || n.liveMs.length === 0;
    const m = n && n.liveMs.length ? median(n.liveMs) : NaN;
    rows.push([
      `push-to-live through nginx (median of ${opt.liveRepeat}; client every 20 ms)`,
      'no equivalent',
      failedRun ? 'error' : fmtMs(m),
      '-',
      '< 1 s',
      failedRun ? 'FAIL' : m < LIVE_TARGET_MS ? 'PASS' : `MISS (+${fmtMs(m - LIVE_TARGET_MS)})`,
    ]);
    rows.push([
      `failed requests through nginx during ${opt.liveRepeat} redeploys`,
      'no equivalent',
      n ? `${n.failed.length} of ${n.requests}` : 'error',
      '-',
      '0',
      n && n.failed.length === 0 && !failedRun ? 'PASS' : 'FAIL',
    ]);
  }

  if (opt.logs && !opt.nativeOnly) {
    if (logsFollow) rows.push(...logsFollowRows(logsFollow));
    else rows.push(['logs -f latency', '-', 'error', '-', '< 250 ms', 'FAIL']);
  }

  // Push-to-live breakdown: median (min-max) of each component over the timed pushes.
  type BRow = [component: string, median: string, range: string, what: string];
  const brows: BRow[] = [];
  if (live && live.runs.length) {
    const comp = (name: string, pick: (r: LiveRun) => number | null, what: string) => {
      const xs = live!.runs.map(pick).filter((x): x is number => x !== null && Number.isFinite(x));
      if (xs.length === 0) return brows.push([name, '-', '-', what]);
      const ms = (x: number) => `${x.toFixed(0)} ms`;
      brows.push([name, ms(median(xs)), `${ms(Math.min(...xs))} - ${ms(Math.max(...xs))}`, what]);
    };
    comp('push-to-live', (r) => r.liveMs, 't0 (just before spawning git push) -> first HTTP answer with the new version');
    comp('  receive', (r) => r.receiveMs, 't0 -> deploy start: ssh connect+auth, ref advertisement, pack upload, indexing, connectivity check');
    comp('  checkout', (r) => r.checkoutMs, 'export the commit tree into a new release dir (log checkout_ms)');
    comp('  build', (r) => r.buildMs, 'no build step (absent from the log)');
    comp('  start', (r) => r.startMs, 'port allocation + spawn + health (log start_ms)');
    comp('    spawn', (r) => r.spawnMs, 'supervisor starts the process (log spawn_ms)');
    comp('    health', (r) => r.healthMs, 'until the new port accepts TCP (log health_ms)');
    comp('    (app listening at)', (r) => r.readyMs, "t0 -> the new app's listen callback (its Date.now(), sent in its answer; not a step)");
    comp('    (health lag)', (r) => r.healthLagMs, 'receive + checkout + start - app listening: how late the TCP health probe saw the app listening');
    comp('  switch', (r) => r.switchMs, 'release state saved, traffic switch point (no nginx yet) (log switch_ms)');
    comp('  rest', (r) => r.restMs, 'push-to-live minus the above: step bookkeeping, port line reaching the client, first GET');
    comp('after live: stop', (r) => r.stopMs, 'old release stopped (SIGTERM) (log stop_ms)');
    comp('after live: tail', (r) => r.tailMs, 'push exit - receive - deploy: ref update, report-status, ssh teardown');
    comp('git push exits', (r) => r.pushMs, 't0 -> git push exited');
    comp('deploy total', (r) => r.deployMs, 'checkout .. stop, as the gateway logs it (log ms)');
  }

  const header: Row = ['operation', 'native (sshd+git)', 'slipway', 'ratio', 'target', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: Row) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log('');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('');
  console.log(
    'Times: median wall time of the git client process (performance.now), loopback. Native memory = summed VmRSS of the ' +
      "sshd listener's descendants (session sshd + git processes), sampled every 20 ms; slipway memory = VmRSS of the slipway process minus its idle RSS.",
  );
  const bheader: BRow = ['push-to-live component', 'median', 'min - max', 'what'];
  if (brows.length) {
    const bw = bheader.map((h, i) => Math.max(h.length, ...brows.map((r) => r[i]!.length)));
    const bline = (r: BRow) => r.map((c, i) => (i === 1 || i === 2 ? c.padStart(bw[i]!) : c.padEnd(bw[i]!))).join('  ').trimEnd();
    console.log('');
    console.log(bline(bheader));
    console.log(bw.map((w) => '-'.repeat(w)).join('  '));
    for (const r of brows) console.log(bline(r));
    console.log(`(each component's own median over ${live!.runs.length} pushes: medians need not add up; first deploy, untimed: ${fmtMs(live!.firstDeployMs)} deploy)`);
  }

  // The deploys inside slipway's timed pushes (repo#release of each timed push).
  const deployNotes: string[] = [];
  if (slip) {
    const reps = Array.from({ length: opt.repeat }, (_, i) => i + 1);
    const inPush: Array<[string, string[]]> = [
      [OP_FRESH, reps.map((i) => `bench-fresh-${i}#r1`)],
      [OP_INC, reps.map((i) => `bench-inc-${i}#r2`)],
      [OP_BIG_PUSH, ['bench-big#r1']],
    ];
    for (const [op, keys] of inPush) {
      const ds = keys.map((k) => slipDeploys.get(k)).filter((d) => d !== undefined);
      const pushMs = median(results.get(op)?.slipway.times ?? []);
      if (ds.length === 0) continue;
      const dms = median(ds.map((d) => d.ms));
      deployNotes.push(
        `${op}: the deploy (checkout ${fmtMs(median(ds.map((d) => d.checkoutMs)))}) took ${fmtMs(dms)} of slipway's ${fmtMs(pushMs)}` +
          ` (push without it: ~${fmtMs(pushMs - dms)}, ${(((pushMs - dms) / median(results.get(op)?.native.times ?? [])) || NaN).toFixed(2)}x native)`,
      );
    }
    if (deployNotes.length) {
      console.log('');
      console.log("slipway deploys on every push to a configured branch, before the ref moves; the bench repos have no runners, so that deploy is a checkout of the pushed tree, inside slipway's timed push (medians, from the gateway's `deployed` log lines):");
      for (const n of deployNotes) console.log(`  ${n}`);
    }
  }

  // Extra observations.
  if (slip) {
    for (const [op, peak] of Object.entries(slipPeaks)) log(`slipway RSS peak above idle during "${op}": +${fmtMiB(peak)}`);
    log(`slipway RSS after all operations: ${fmtMiB(slipEnd)} (idle was ${fmtMiB(slipIdle)})`);
    if (sampler && sampler.childCommands.size)
      log(`slipway child processes seen: ${[...sampler.childCommands].map((c) => (c === 'esbuild' ? 'esbuild (tsx transpiler service, expected)' : c)).join(', ')}`);
    const errs = [...results.entries()].flatMap(([op, r]) => r.slipway.errors.map((e) => `${op}: ${e}`));
    for (const e of [...new Set(errs)]) log(`slipway error: ${e}`);
    for (const e of live?.errors ?? []) log(`slipway error: push-to-live: ${e}`);
    for (const e of nginxLive?.errors ?? []) log(`slipway error: push-to-live through nginx: ${e}`);
    for (const f of (nginxLive?.failed ?? []).slice(0, 10)) log(`failed request through nginx: ${f.what}`);
    if (nginxLive?.pushMs.length) log(`push-to-live through nginx: git push exits after a median ${fmtMs(median(nginxLive.pushMs))} (the old release drains 5 s before it stops)`);
    for (const p of slip.problems()) log(`slipway log: ${p}`);
    log(`slipway ${await slip.stop()}`);
    const groups = killApps(slip.dataDir, runDir);
    stopNginx(slip.dataDir);
    log(`deployed app: stopped ${groups.length} process group(s) left running after slipway (apps outlive the gateway by design)`);
  }
  // Real-history workload: a long generated history pushed whole, cloned, then pushed and fetched
  // incrementally (bench/history.ts), against native git over OpenSSH and over file://.
  let history: HistoryResult | undefined;
  let gcBench: GcBenchResult | undefined;
  if (opt.history && !opt.nativeOnly) {
    const spec = opt.quick ? LONG_HISTORY.quick : LONG_HISTORY.full;
    log(`real-history workload: ${spec.commits} commits over ${spec.files} files, ${spec.branches} branches, ${spec.tags} tags (git fast-import, cached)`);
    const source = ensureLongHistory(WORK, spec, log);
    process.env.SLIPWAY_LOG_LEVEL ??= 'debug'; // the server logs its event-loop delay per push
    history = await measureHistory({ dir: join(runDir, 'history'), key, gitEnv, sshd }, source, { log });
    log(ratioLine(history));
    log('gc workload: the same history laid down as 21 pushes; slipway gc against git gc and git repack -a -d (bench/gc.ts)');
    gcBench = await benchGc(source);
  }
  await sshd.stop();
  // What open dashboards cost a push and an idle gateway (bench/dashboards.ts).
  let dashboardMd: string[] = [];
  if (opt.dashboards && !opt.nativeOnly) {
    log(`dashboards: push-to-live with 0 and 20 dashboards open, idle CPU and RSS with 20 (${opt.quick ? '15' : '60'} s window)`);
    dashboardMd = printDashboardRows(await measureDashboards({ dir: join(runDir, 'dashboards'), key, gitEnv, quick: opt.quick, log }));
  }

  // Markdown copy for docs/benchmarks.md.
  const md = [
    '',
    '<!-- paste into docs/benchmarks.md -->',
    `Measured ${new Date().toISOString().slice(0, 10)}${opt.quick ? ' (--quick smoke run)' : ''}, ${opt.repeat} repeats, median. ${info.join('; ')}.`,
    `SSH negotiated with the OpenSSH client: ${negotiated.join('; ')}.`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    ...(deployNotes.length
      ? ["Deploys inside slipway's timed pushes (a checkout of the pushed tree: the repos' branch is configured, without runners):", '', ...deployNotes.map((n) => `- ${n}`), '']
      : []),
    ...(brows.length
      ? [
          `Push-to-live breakdown (${live!.runs.length} pushes; each component's median, min - max):`,
          '',
          `| ${bheader.join(' | ')} |`,
          '| --- | ---: | ---: | --- |',
          // indentation does not survive Markdown: sub-steps of start are named `start: …`
          ...brows.map((r) => `| ${r[0].startsWith('    ') ? `start: ${r[0].trim().replace(/^\((.*)\)$/, '$1')}` : r[0].trim()} | ${r[1]} | ${r[2]} | ${r[3]} |`),
          '',
        ]
      : []),
  ];
  if (history) md.push(...historyMarkdown(history), '');
  if (gcBench) md.push('Repository gc of that history after 21 pushes:', '', gcMarkdown([gcBench]), '');
  if (dashboardMd.length) md.push(...dashboardMd, '');
  console.log(md.join('\n'));
  return 0;
}

main()
  .then((code) => {
    cleanupAll();
    process.exit(code);
  })
  .catch((e: unknown) => {
    const msg = e instanceof SetupError ? `setup failed: ${e.message}` : `failed: ${e instanceof Error ? e.message : String(e)}`;
    console.error(`bench: ${msg}`);
    cleanupAll();
    process.exit(1);
  });
