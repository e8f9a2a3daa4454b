import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/** The real clients the end-to-end tests drive, and the Debian package of each. */
const TOOLS: Record<string, string> = {
  git: 'git',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  bash: 'bash',
  // As root, slipway gives each repo a user (useradd) and confines it (prlimit, bwrap, setpriv).
  ...(process.getuid?.() === 0 ? { useradd: 'passwd', bwrap: 'bubblewrap', setpriv: 'util-linux', prlimit: 'util-linux' } : {}),
};

/**
 * Installs missing clients when running as root (apt-get), else fails naming the package: never
 * skips. `tools` maps a shell test (a command name, or any `sh -c` condition) to its package.
 */
export function requireTools(tools: Record<string, string>): void {
  const present = (t: string) => spawnSync('sh', ['-c', /\s/.test(t) ? t : `command -v ${t}`], { stdio: 'ignore' }).status === 0;
  const missing = () => Object.keys(tools).filter((t) => !present(t));
  let absent = missing();
  if (absent.length && process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    const pkgs = [...new Set(absent.map((t) => tools[t]!))];
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    absent = missing();
  }
  if (absent.length) {
    const pkgs = [...new Set(absent.map((t) => tools[t]!))].join(' ');
    throw new Error(`the end-to-end tests need ${absent.join(', ')}: install the Debian package(s) ${pkgs} (apt-get install -y ${pkgs})`);
  }
}
requireTools(TOOLS);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InstanceOptions {
  /** slipway.yml text (without `listen`, which the helper sets) */
  slipwayYml?: string;
  /** repos/<name>.yml texts */
  repos?: Record<string, string>;
  /** domains/<name>.yml texts */
  domains?: Record<string, string>;
  /** users to create keys for; the first is the default actor */
  users?: string[];
  /** users whose key exists on disk but is NOT put in the config */
  strangers?: string[];
  keyType?: KeyType;
  /** make the instance's temp root searchable by other users (o+x), as `isolation: user` needs */
  openRoot?: boolean;
  /** run the gateway as this unprivileged uid (and gid), owning the instance's files, with its own HOME */
  asUid?: number;
}

export type KeyType = 'ed25519' | 'rsa' | 'ecdsa' | 'ecdsa-384' | 'ecdsa-521';

const tmpRoots: string[] = [];
process.on('exit', () => {
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'slipway-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpRoots.push(d);
  return d;
}

/** Runs a command to completion, never throwing on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * The one wait of the end-to-end tests: calls `fn` until `ok` accepts its value, or fails the test
 * after `timeoutMs` saying what did not happen and the last value seen. `fn` may throw meanwhile
 * (e.g. a port that does not answer yet); the last error is part of the failure.
 */
export async function waitUntil<T>(what: string, fn: () => T | Promise<T>, ok: (v: T) => boolean = Boolean, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const v = await fn();
      if (ok(v)) return v;
      last = `still ${JSON.stringify(v)}`;
    } catch (err) {
      last = `last error: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) assert.fail(`${what}: ${last} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `p` settles within `ms`, or the test fails saying what did not happen. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))),
  ]);
}

/** The server log never shows a stack, an internal error or an ERROR-level line. */
export function assertNoStackTrace(inst: Instance): void {
  assert.doesNotMatch(inst.output, /^\s+at /m, 'a stack trace in the server log');
  assert.doesNotMatch(inst.output, /\\n\s+at /, 'an escaped stack trace in the server log');
  assert.doesNotMatch(inst.output, /internal error|session failed| ERROR /, 'an internal error in the server log');
}

/** A git environment that ignores the machine's own config. */
export function gitEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'Test Committer',
    GIT_COMMITTER_EMAIL: 'committer@example.com',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

export function makeKey(dir: string, name: string, type: KeyType = 'ed25519'): string {
  const file = path.join(dir, `${name}_key`);
  const [algo, bits] = type.split('-') as [string, string | undefined];
  const args = ['-q', '-t', algo, '-N', '', '-C', `${name}@test`, '-f', file];
  if (type === 'rsa') args.push('-b', '2048');
  if (bits) args.push('-b', bits);
  const r = spawnSync('ssh-keygen', args);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return file;
}

export class Instance {
  proc: ChildProcess | null = null;
  port = 0;
  output = '';
  readonly keys: Record<string, string> = {};
  readonly home: string;

  constructor(
    readonly root: string,
    readonly configDir: string,
    readonly dataDir: string,
  ) {
    this.home = path.join(root, 'home');
    fs.mkdirSync(this.home, { recursive: true });
  }

  get url(): string {
    return `ssh://paas@127.0.0.1:${this.port}`;
  }

  sshCommand(user: string): string {
    return `ssh -i ${this.keys[user]} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o ConnectTimeout=10`;
  }

  /** set: the gateway runs as this uid (see InstanceOptions.asUid) */
  asUid?: number;

  /** Starts `slipway serve` and waits until it listens; one that does not within `deadlineMs` is killed and fails the test. */
  async start(extraArgs: string[] = [], deadlineMs = 30_000): Promise<void> {
    const argv = [process.execPath, path.join(ROOT, 'bin/slipway.js'), 'serve', '--config', this.configDir, '--data', this.dataDir, '--listen', '127.0.0.1:0', ...extraArgs];
    const as = this.asUid;
    if (as !== undefined) argv.unshift('setpriv', `--reuid=${as}`, `--regid=${as}`, '--clear-groups', '--');
    const proc = spawn(argv[0]!, argv.slice(1), {
      cwd: this.root,
      env: { ...process.env, SLIPWAY_LOG_LEVEL: 'debug', ...(as === undefined ? {} : { HOME: path.join(this.root, 'gateway-home'), USER: 'nobody' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stderr!.on('data', (d) => (this.output += d));
    this.port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`slipway did not listen within ${deadlineMs} ms:\n${this.output}`));
      }, deadlineMs);
      proc.stdout!.on('data', (d) => {
        out += d;
        this.output += d;
        const m = /slipway listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`slipway exited with ${code} before listening:\n${this.output}`));
      });
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
    this.proc = null;
  }

  /** `git <args>` as `user` through the real OpenSSH client. */
  git(args: string[], opts: { cwd?: string; user?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    const user = opts.user ?? Object.keys(this.keys)[0]!;
    return run('git', args, { cwd: opts.cwd ?? this.root, env: gitEnv(this.home, { GIT_SSH_COMMAND: this.sshCommand(user), ...opts.env }) });
  }

  /** `ssh host <command>` as `user`. */
  ssh(user: string, command: string[], extra: string[] = []): Promise<RunResult> {
    return run('ssh', [...this.sshCommand(user).split(' ').slice(1), '-p', String(this.port), ...extra, 'paas@127.0.0.1', ...command], { env: gitEnv(this.home) });
  }

  gitDir(repo: string): string {
    return path.join(this.dataDir, 'repos', `${repo}.git`);
  }

  /** Native git on the server's repo: the oracle for what slipway wrote. */
  serverGit(repo: string, args: string[]): Promise<RunResult> {
    return run('git', ['--git-dir', this.gitDir(repo), ...args], { env: gitEnv(this.home) });
  }
}

/** Writes a config dir and keys, then starts an instance on a random port. */
export async function startInstance(opts: InstanceOptions = {}): Promise<Instance> {
  const root = tempDir();
  if (opts.openRoot) fs.chmodSync(root, 0o711);
  const configDir = path.join(root, 'config');
  const dataDir = path.join(root, 'data');
  fs.mkdirSync(path.join(configDir, 'repos'), { recursive: true });
  fs.mkdirSync(path.join(configDir, 'keys'), { recursive: true });
  const inst = new Instance(root, configDir, dataDir);
  const keyDir = path.join(root, 'keys');
  fs.mkdirSync(keyDir);
  for (const user of opts.users ?? ['alice']) {
    inst.keys[user] = makeKey(keyDir, user, opts.keyType);
    fs.copyFileSync(`${inst.keys[user]}.pub`, path.join(configDir, 'keys', `${user}.pub`));
  }
  for (const user of opts.strangers ?? []) inst.keys[user] = makeKey(keyDir, user, opts.keyType);
  fs.writeFileSync(path.join(configDir, 'slipway.yml'), opts.slipwayYml ?? '');
  const repos = opts.repos ?? { myapp: 'branches:\n  main: {}\n  staging: {}\n' };
  for (const [name, yml] of Object.entries(repos)) fs.writeFileSync(path.join(configDir, 'repos', `${name}.yml`), yml);
  if (opts.domains) fs.mkdirSync(path.join(configDir, 'domains'));
  for (const [name, yml] of Object.entries(opts.domains ?? {})) fs.writeFileSync(path.join(configDir, 'domains', `${name}.yml`), yml);
  if (opts.asUid !== undefined) {
    inst.asUid = opts.asUid;
    fs.mkdirSync(path.join(root, 'gateway-home'));
    fs.chmodSync(root, 0o711);
    for (const d of [root, configDir, path.join(root, 'gateway-home'), ...walk(configDir)]) fs.chownSync(d, opts.asUid, opts.asUid);
  }
  await inst.start();
  return inst;
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? [p, ...walk(p)] : [p];
  });
}

/** A local working repo with `n` commits, each changing a few files. */
export async function makeWorkRepo(inst: Instance, name = 'work', commits = 2): Promise<string> {
  const dir = path.join(inst.root, name);
  fs.mkdirSync(dir);
  const env = gitEnv(inst.home);
  await run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
  for (let i = 0; i < commits; i++) await commitChange(dir, inst, `change ${i}`);
  return dir;
}

export async function commitChange(dir: string, inst: Instance, message: string, files: Record<string, string> = {}): Promise<string> {
  const env = gitEnv(inst.home);
  const defaults = {
    'README.md': `# test app\n${message}\n`,
    'src/app.js': `console.log(${JSON.stringify(message)});\n` + 'x'.repeat(2000) + '\n',
    [`notes/${message.replace(/\W+/g, '-')}.txt`]: `${message}\n`.repeat(50),
  };
  for (const [f, text] of Object.entries({ ...defaults, ...files })) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  await run('git', ['add', '-A'], { cwd: dir, env });
  const r = await run('git', ['commit', '-q', '-m', message], { cwd: dir, env });
  if (r.code !== 0) throw new Error(`commit failed: ${r.stderr}`);
  return (await run('git', ['rev-parse', 'HEAD'], { cwd: dir, env })).stdout.trim();
}

/** `git fsck --full --strict` on the server's repo; returns its output, throws when unclean. */
export async function assertFsckClean(inst: Instance, repo: string): Promise<void> {
  const r = await inst.serverGit(repo, ['fsck', '--full', '--strict', '--no-dangling']);
  if (r.code !== 0 || /error|missing|broken|corrupt/i.test(r.stdout + r.stderr)) {
    throw new Error(`git fsck of ${repo} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  }
}

export async function serverRef(inst: Instance, repo: string, ref: string): Promise<string | null> {
  const r = await inst.serverGit(repo, ['rev-parse', '--verify', '-q', ref]);
  return r.code === 0 ? r.stdout.trim() : null;
}
