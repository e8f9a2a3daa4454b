/**
 * The real-history workload: a bare repo with many commits, refs and tags, pushed whole and
 * cloned, against native git behind OpenSSH in the same run. Used by `npm run bench` on a
 * generated history, and on its own for any bare repo (a snapshot of a public project):
 *
 *   npm run build && node --import tsx bench/history.ts [--cpu-prof DIR] [--clone-only] /path/to/repo.git ...
 *
 * Steps, on both sides: whole-history push (every branch and tag in one push, the default branch
 * 10 commits short), full clone, incremental push of those 10 commits, incremental fetch into the
 * clone; `ssh … whoami` (native: `ssh … true`) round trips during the whole push; peak RSS.
 * Afterwards the slipway repo must pass `git fsck --full` and hold exactly the pushed refs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RssSampler, fmtMiB, idleRss } from './measure.ts';
import { startNativeSshd, type NativeSshd } from './native-sshd.ts';
import { cleanupAll, installSignalHandlers, onCleanup, run, runOk } from './procs.ts';
import { startSlipway } from './slipway-instance.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface HistoryResult {
  repo: string;
  objects: number;
  refs: number;
  packBytes: number;
  /**
   * Per side: milliseconds of each step; a session's round trip (`whoami`, native `ssh … true`) idle
   * and at worst during the whole push; peak RSS above idle. `local` is native git over file://
   * (no ssh), the floor.
   */
  sides: Record<Side, { push: number; clone: number; incPush: number; incFetch: number; pingIdleMs: number; pingMaxMs: number; rssAboveIdle: number }>;
  /** slipway's worst event-loop delay during a push, from its debug log */
  loopDelayMaxMs: number;
  /** the same while it made and sent a pack (clones and fetches), from its log */
  packLoopDelayMaxMs: number;
  problems: string[];
}

interface Env {
  dir: string;
  key: string;
  gitEnv: NodeJS.ProcessEnv;
  sshd: NativeSshd;
}

export async function setupHistoryEnv(dir: string): Promise<Env> {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'client_ed25519');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-bench', '-f', key]);
  const gitEnv: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_SSH_COMMAND: sshCommand(key),
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
  };
  const sshd = await startNativeSshd(join(dir, 'native'), `${key}.pub`);
  onCleanup(() => process.kill(sshd.pid, 'SIGTERM'));
  return { dir, key, gitEnv, sshd };
}

function sshCommand(key: string): string {
  return `ssh -F /dev/null -i '${key}' -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`;
}

const yamlString = (s: string) => JSON.stringify(s);
type Side = 'local' | 'native' | 'slipway';
const SIDES: Side[] = ['local', 'native', 'slipway'];

/** Measures one bare repo on both sides. */
/** `cloneOnly`: native and slipway only, no round trips during the push, and the clone `cloneRuns` times (the median counts). */
export async function measureHistory(env: Env, source: string, opts: { cpuProfDir?: string; log: (m: string) => void; cloneOnly?: boolean; cloneRuns?: number }): Promise<HistoryResult> {
  const git = (args: string[], cwd?: string) => runOk('git', args, { env: env.gitEnv, ...(cwd ? { cwd } : {}) });
  // A fetched snapshot sits at <owner+name>/repo: name it after its folder.
  const base = basename(source) === 'repo' ? basename(dirname(source)) : basename(source);
  const name = base.replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '-') || 'repo';
  mkdirSync(env.dir, { recursive: true });
  const work = mkdtempSync(join(env.dir, `${name}-`));
  const refsText = (await git(['--git-dir', source, 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/tags'])).stdout.trim();
  const refs = refsText.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]);
  const branches = refs.filter(([, r]) => r.startsWith('refs/heads/')).map(([, r]) => r.slice(11));
  const head = (await git(['--git-dir', source, 'symbolic-ref', '--short', 'HEAD'])).stdout.trim();
  const mainBranch = branches.includes(head) ? head : branches[0]!;
  const mainTip = refs.find(([, r]) => r === `refs/heads/${mainBranch}`)![0];
  const short = (await run('git', ['--git-dir', source, 'rev-parse', '-q', '--verify', `${mainTip}~10`], { env: env.gitEnv })).stdout.trim() || mainTip;
  const count = (await git(['--git-dir', source, 'count-objects', '-v'])).stdout;
  const objects = Number(/in-pack: (\d+)/.exec(count)?.[1] ?? 0) + Number(/^count: (\d+)/m.exec(count)?.[1] ?? 0);
  const packBytes = Number(/size-pack: (\d+)/.exec(count)?.[1] ?? 0) * 1024;
  opts.log(`${name}: ${objects} objects, ${refs.length} refs (${branches.length} branches), ${fmtMiB(packBytes)} packed`);

  // Every branch and tag; the default branch 10 commits short, for the incremental steps.
  const wholeSpecs = refs.map(([, r]) => (r === `refs/heads/${mainBranch}` ? `${short}:${r}` : `${r}:${r}`));
  const specFile = join(work, 'refspecs');
  writeFileSync(specFile, wholeSpecs.join('\n') + '\n');

  const slip = await startSlipway({
    root: ROOT,
    dir: join(work, 'slipway'),
    publicKey: (await runOk('cat', [`${env.key}.pub`])).stdout,
    repos: [],
    repoYaml: { [name]: `branches:\n${branches.map((b) => `  ${yamlString(b)}: {}`).join('\n')}\n` },
    nodeArgs: opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [],
  });
  onCleanup(() => void slip.stop());
  let loopDelayMaxMs = 0;
  let packLoopDelayMaxMs = 0;
  slip.onLine((l) => {
    const m = /push processed .*loop_delay_max_ms=(\d+)/.exec(l);
    if (m) loopDelayMaxMs = Math.max(loopDelayMaxMs, Number(m[1]));
    const p = /pack sent .*loop_delay_max_ms=(\d+)/.exec(l);
    if (p) packLoopDelayMaxMs = Math.max(packLoopDelayMaxMs, Number(p[1]));
  });
  const nativeRepo = join(work, 'native.git');
  const localRepo = join(work, 'local.git');
  await env.sshd.initBare(nativeRepo);
  await env.sshd.initBare(localRepo);
  const problems: string[] = [];
  const sides = {} as HistoryResult['sides'];
  const sshArgs = sshCommand(env.key).split(' ').slice(1).map((a) => a.replace(/^'|'$/g, ''));
  for (const side of opts.cloneOnly ? SIDES.filter((s) => s !== 'local') : SIDES) {
    const url = side === 'local' ? `file://${localRepo}` : side === 'native' ? env.sshd.remote(nativeRepo) : slip.remote(name);
    const pid = side === 'slipway' ? slip.pid : env.sshd.pid;
    const ping = side === 'slipway' ? ['-p', String(slip.port), 'paas@127.0.0.1', 'whoami'] : ['-p', String(env.sshd.port), `${env.sshd.user}@127.0.0.1`, 'true'];
    const pings: number[] = [];
    for (let i = 0; i < 3; i++) pings.push((await run('ssh', [...sshArgs, ...ping], { env: env.gitEnv })).ms);
    const pingIdleMs = pings.sort((a, b) => a - b)[1]!;
    const sampler = new RssSampler(side === 'local' ? process.pid : pid, side === 'slipway' ? 'self' : 'tree').start();
    const idle = side === 'slipway' ? await idleRss(pid, 500) : 0;
    sampler.mark();
    const pushing = run('sh', ['-c', `xargs git --git-dir '${source}' push -q '${url}' < '${specFile}'`], { env: env.gitEnv });
    let done = false;
    void pushing.then(() => (done = true));
    let pingMaxMs = 0;
    while (!done && side !== 'local' && !opts.cloneOnly) {
      const r = await run('ssh', [...sshArgs, ...ping], { env: env.gitEnv });
      if (!done) pingMaxMs = Math.max(pingMaxMs, r.ms);
      await new Promise((res) => setTimeout(res, 100));
    }
    const push = await pushing;
    const rssAboveIdle = Math.max(0, sampler.peak() - idle);
    sampler.stop();
    if (push.code !== 0) problems.push(`${side} whole push failed: ${push.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const clones = [];
    for (let i = 0, runs = opts.cloneOnly ? (opts.cloneRuns ?? 3) : 1; i < runs; i++) {
      rmSync(join(work, `${side}-clone.git`), { recursive: true, force: true });
      clones.push(await run('git', ['clone', '-q', '--bare', url, join(work, `${side}-clone.git`)], { env: env.gitEnv }));
    }
    if (clones.length > 1) opts.log(`${name} ${side}: clones ${clones.map((c) => ms(c.ms)).join(', ')}`);
    const clone = clones.sort((a, b) => a.ms - b.ms)[clones.length >> 1]!;
    if (clone.code !== 0) problems.push(`${side} clone failed: ${clone.stderr.trim()}`);
    const inc = await run('git', ['--git-dir', source, 'push', '-q', url, `${mainTip}:refs/heads/${mainBranch}`], { env: env.gitEnv });
    if (inc.code !== 0) problems.push(`${side} incremental push failed: ${inc.stderr.trim()}`);
    const fetch = await run('git', ['--git-dir', join(work, `${side}-clone.git`), 'fetch', '-q', url, `+refs/heads/*:refs/heads/*`], { env: env.gitEnv });
    if (fetch.code !== 0) problems.push(`${side} incremental fetch failed: ${fetch.stderr.trim()}`);
    sides[side] = { push: push.ms, clone: clone.ms, incPush: inc.ms, incFetch: fetch.ms, pingIdleMs, pingMaxMs, rssAboveIdle };
    opts.log(
      `${name} ${side}: push ${ms(push.ms)}, clone ${ms(clone.ms)}, incremental push ${ms(inc.ms)}, incremental fetch ${ms(fetch.ms)}` +
        (side === 'local' ? '' : `; ${side === 'native' ? 'ssh true' : 'whoami'} ${ms(pingIdleMs)} idle, ${ms(pingMaxMs)} at worst during the push`) +
        (side === 'slipway' ? `; peak RSS ${fmtMiB(rssAboveIdle)} above idle; event loop delay at worst ${loopDelayMaxMs} ms (${packLoopDelayMaxMs} ms while sending packs)` : ''),
    );
  }

  // The oracle: the slipway repo holds what native holds, and passes native fsck.
  const slipGitDir = join(slip.dataDir, 'repos', `${name}.git`);
  const listing = async (d: string) => (await git(['--git-dir', d, 'for-each-ref', '--format=%(objectname) %(refname)'])).stdout;
  if ((await listing(slipGitDir)) !== (await listing(nativeRepo))) problems.push('slipway refs differ from native refs');
  if ((await listing(join(work, 'slipway-clone.git'))) !== (await listing(join(work, 'native-clone.git')))) problems.push('clones differ');
  const fsck = await run('git', ['--git-dir', slipGitDir, 'fsck', '--full', '--no-dangling'], { env: env.gitEnv });
  if (fsck.code !== 0) problems.push(`git fsck --full of the slipway repo failed: ${fsck.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  const warnLine = slip.outputTail(400).split('\n').find((l) => l.includes('git fsck warnings'));
  if (warnLine) opts.log(`${name}: ${warnLine.replace(/^.*?git fsck/, 'git fsck')}`);
  for (const p of problems) opts.log(`${name}: PROBLEM ${p}`);
  await slip.stop();
  rmSync(work, { recursive: true, force: true });
  return { repo: name, objects, refs: refs.length, packBytes, sides, loopDelayMaxMs, packLoopDelayMaxMs, problems };
}

/** The history workload as a Markdown table for docs/benchmarks.md, with ratios and targets. */
export function historyMarkdown(r: HistoryResult): string[] {
  const { local, native, slipway } = r.sides;
  const row = (op: string, key: 'push' | 'clone' | 'incPush' | 'incFetch', target: number) => {
    const ratio = slipway[key] / native[key];
    return `| ${op} | ${ms(local[key])} | ${ms(native[key])} | ${ms(slipway[key])} | ${ratio.toFixed(2)}x | ${(slipway[key] / local[key]).toFixed(2)}x | ${target}x | ${ratio <= target ? 'PASS' : 'MISS'} |`;
  };
  return [
    `Real history \`${r.repo}\`: ${r.objects} objects, ${r.refs} refs, ${fmtMiB(r.packBytes)} packed.`,
    '',
    '| operation | native file:// | native OpenSSH | slipway | slipway / OpenSSH | slipway / file:// | target (vs OpenSSH) | result |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    row('whole-history push (all branches and tags)', 'push', 1.5),
    row('full clone', 'clone', 1.5),
    row('incremental push (10 commits)', 'incPush', 1.2),
    row('incremental fetch', 'incFetch', 1.2),
    '',
    `Session round trip during the whole push: slipway \`whoami\` ${ms(slipway.pingIdleMs)} idle, ${ms(slipway.pingMaxMs)} at worst ` +
      `(native \`ssh … true\` ${ms(native.pingIdleMs)} idle, ${ms(native.pingMaxMs)} at worst); slipway's event loop delay at worst ${r.loopDelayMaxMs} ms. ` +
      `slipway peak RSS during the push: ${fmtMiB(slipway.rssAboveIdle)} above idle (pack ${fmtMiB(r.packBytes)}).`,
  ];
}

function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;
}

export function ratioLine(r: HistoryResult): string {
  const s = r.sides.slipway;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const vs = (n: HistoryResult['sides']['native']) =>
    `push ${x(s.push, n.push)}, clone ${x(s.clone, n.clone)}, incremental push ${x(s.incPush, n.incPush)}, incremental fetch ${x(s.incFetch, n.incFetch)}`;
  const local = (r.sides as Partial<HistoryResult['sides']>).local; // absent with --clone-only
  return `${r.repo}: slipway / native over OpenSSH: ${vs(r.sides.native)}` + (local ? `; slipway / native file:// (no ssh): ${vs(local)}` : '');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  installSignalHandlers();
  const args = process.argv.slice(2);
  const profAt = args.indexOf('--cpu-prof');
  const cpuProfDir = profAt >= 0 ? resolve(args.splice(profAt, 2)[1]!) : undefined;
  // --clone-only: the clone and fetch side (native and slipway, the clone three times).
  const cloneOnly = args.includes('--clone-only');
  if (cloneOnly) args.splice(args.indexOf('--clone-only'), 1);
  const dir = mkdtempSync(join(tmpdir(), 'slipway-history-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const log = (m: string) => console.log(`history: ${m}`);
  process.env.SLIPWAY_LOG_LEVEL ??= 'debug'; // the server logs its event-loop delay per push
  const env = await setupHistoryEnv(dir);
  let failed = 0;
  for (const repo of args) {
    const r = await measureHistory(env, resolve(repo), { cpuProfDir, log, cloneOnly });
    log(ratioLine(r));
    if (r.problems.length) failed++;
  }
  cleanupAll();
  process.exit(failed ? 1 : 0);
}
