/**
 * `npm run bench [-- --quick] [-- --native-only] [-- --repeat N] [-- --keep]`
 *
 * Compares slipway's built-in git-over-SSH with native git behind OpenSSH's sshd, on loopback, in
 * the same run: fresh push, incremental push, clone (median of N runs each), plus slipway's memory.
 * A benchmark, not a test: exits 0 whatever the numbers; exits 1 only when setup fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB, RssSampler, fmtMiB, fmtMs, idleRss, median, readVmRss } from './measure.ts';
import { SSHD, startNativeSshd, type NativeSshd } from './native-sshd.ts';
import { cleanupAll, installSignalHandlers, onCleanup, run, runOk } from './procs.ts';
import { SPECS, ensureRepo, type GeneratedRepo } from './repo-gen.ts';
import { startSlipway, type SlipwayInstance } from './slipway-instance.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, 'bench', '.work');

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const opt = {
  quick: argv.includes('--quick'),
  nativeOnly: argv.includes('--native-only'),
  keep: argv.includes('--keep'),
  repeat: Number(argv[argv.indexOf('--repeat') + 1]) || 3,
};
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: npm run bench [-- --quick] [--native-only] [--repeat N] [--keep]');
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
    for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir + '/')) process.kill(Number(p), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
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
  if (!opt.nativeOnly) {
    try {
      slip = await startSlipway({ root: ROOT, dir: join(runDir, 'slipway'), publicKey: readFileSync(`${key}.pub`, 'utf8'), repos: ids });
    } catch (e) {
      throw new SetupError(`slipway: ${(e as Error).message}`);
    }
    log(`slipway: pid ${slip.pid} on 127.0.0.1:${slip.port}`);
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

  // Extra observations.
  if (slip) {
    for (const [op, peak] of Object.entries(slipPeaks)) log(`slipway RSS peak above idle during "${op}": +${fmtMiB(peak)}`);
    log(`slipway RSS after all operations: ${fmtMiB(slipEnd)} (idle was ${fmtMiB(slipIdle)})`);
    if (sampler && sampler.childCommands.size)
      log(`slipway child processes seen: ${[...sampler.childCommands].map((c) => (c === 'esbuild' ? 'esbuild (tsx transpiler service, expected)' : c)).join(', ')}`);
    const errs = [...results.entries()].flatMap(([op, r]) => r.slipway.errors.map((e) => `${op}: ${e}`));
    for (const e of [...new Set(errs)]) log(`slipway error: ${e}`);
    for (const p of slip.problems()) log(`slipway log: ${p}`);
    log(`slipway ${await slip.stop()}`);
  }
  await sshd.stop();

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
  ];
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
