/**
 * The real-history workload: a bare repo with many commits, refs and tags, pushed whole and
 * cloned, against native git behind OpenSSH in the same run. Used by `npm run bench` on a
 * generated history, and on its own for any bare repo (a snapshot of a public project):
 *
 *   node --import tsx bench/history.ts [--cpu-prof DIR] /path/to/repo.git ...
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
  /** per side: milliseconds of each step, max whoami latency, peak RSS above idle */
  sides: Record<'native' | 'slipway', { push: number; clone: number; incPush: number; incFetch: number; whoamiMaxMs: number; rssAboveIdle: number }>;
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

/** Measures one bare repo on both sides. */
export async function measureHistory(env: Env, source: string, opts: { cpuProfDir?: string; log: (m: string) => void }): Promise<HistoryResult> {
  const git = (args: string[], cwd?: string) => runOk('git', args, { env: env.gitEnv, ...(cwd ? { cwd } : {}) });
  // A fetched snapshot sits at <owner+name>/repo: name it after its folder.
  const base = basename(source) === 'repo' ? basename(dirname(source)) : basename(source);
  const name = base.replace(/\.git$/, '').replace(/[^A-Za-z0-9._-]/g, '-') || 'repo';
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
  const nativeRepo = join(work, 'native.git');
  await env.sshd.initBare(nativeRepo);
  const problems: string[] = [];
  const sides = {} as HistoryResult['sides'];
  for (const side of ['native', 'slipway'] as const) {
    const url = side === 'native' ? env.sshd.remote(nativeRepo) : slip.remote(name);
    const pid = side === 'native' ? env.sshd.pid : slip.pid;
    const ping = side === 'native' ? ['-p', String(env.sshd.port), `${env.sshd.user}@127.0.0.1`, 'true'] : ['-p', String(slip.port), 'paas@127.0.0.1', 'whoami'];
    const sampler = new RssSampler(pid, side === 'native' ? 'tree' : 'self').start();
    const idle = side === 'native' ? 0 : await idleRss(pid, 500);
    sampler.mark();
    const pushing = run('sh', ['-c', `xargs git --git-dir '${source}' push -q '${url}' < '${specFile}'`], { env: env.gitEnv });
    let done = false;
    void pushing.then(() => (done = true));
    let whoamiMaxMs = 0;
    while (!done) {
      const r = await run('ssh', [...sshCommand(env.key).split(' ').slice(1).map((a) => a.replace(/^'|'$/g, '')), ...ping], { env: env.gitEnv });
      if (!done) whoamiMaxMs = Math.max(whoamiMaxMs, r.ms);
      await new Promise((res) => setTimeout(res, 100));
    }
    const push = await pushing;
    const rssAboveIdle = Math.max(0, sampler.peak() - idle);
    sampler.stop();
    if (push.code !== 0) problems.push(`${side} whole push failed: ${push.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const clone = await run('git', ['clone', '-q', '--bare', url, join(work, `${side}-clone.git`)], { env: env.gitEnv });
    if (clone.code !== 0) problems.push(`${side} clone failed: ${clone.stderr.trim()}`);
    const inc = await run('git', ['--git-dir', source, 'push', '-q', url, `${mainTip}:refs/heads/${mainBranch}`], { env: env.gitEnv });
    if (inc.code !== 0) problems.push(`${side} incremental push failed: ${inc.stderr.trim()}`);
    const fetch = await run('git', ['--git-dir', join(work, `${side}-clone.git`), 'fetch', '-q', url, `+refs/heads/*:refs/heads/*`], { env: env.gitEnv });
    if (fetch.code !== 0) problems.push(`${side} incremental fetch failed: ${fetch.stderr.trim()}`);
    sides[side] = { push: push.ms, clone: clone.ms, incPush: inc.ms, incFetch: fetch.ms, whoamiMaxMs, rssAboveIdle };
    opts.log(
      `${name} ${side}: push ${ms(push.ms)}, clone ${ms(clone.ms)}, incremental push ${ms(inc.ms)}, incremental fetch ${ms(fetch.ms)}, ` +
        `${side === 'native' ? 'ssh true' : 'whoami'} max ${ms(whoamiMaxMs)} during push${side === 'slipway' ? `, peak RSS ${fmtMiB(rssAboveIdle)} above idle` : ''}`,
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
  return { repo: name, objects, refs: refs.length, packBytes, sides, problems };
}

function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;
}

export function ratioLine(r: HistoryResult): string {
  const n = r.sides.native;
  const s = r.sides.slipway;
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  return `${r.repo}: push ${x(s.push, n.push)}, clone ${x(s.clone, n.clone)}, incremental push ${x(s.incPush, n.incPush)}, incremental fetch ${x(s.incFetch, n.incFetch)} (slipway / native)`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  installSignalHandlers();
  const args = process.argv.slice(2);
  const profAt = args.indexOf('--cpu-prof');
  const cpuProfDir = profAt >= 0 ? resolve(args.splice(profAt, 2)[1]!) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'slipway-history-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const log = (m: string) => console.log(`history: ${m}`);
  const env = await setupHistoryEnv(dir);
  let failed = 0;
  for (const repo of args) {
    const r = await measureHistory(env, resolve(repo), { cpuProfDir, log });
    log(ratioLine(r));
    if (r.problems.length) failed++;
  }
  cleanupAll();
  process.exit(failed ? 1 : 0);
}
