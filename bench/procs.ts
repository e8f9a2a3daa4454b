/**
 * Child-process bookkeeping for the benchmark: every process the bench starts (sshd, slipway, git
 * clients) is tracked here so it can be stopped on normal exit, on error and on Ctrl-C.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const live = new Set<ChildProcess>();
const finalizers: Array<() => void> = [];

/** Start a process and track it until it exits. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const cp = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(cp);
  cp.once('exit', () => live.delete(cp));
  cp.once('error', () => live.delete(cp));
  return cp;
}

/** Register a synchronous cleanup step (e.g. removing a temp dir) run after processes are killed. */
export function onCleanup(fn: () => void): void {
  finalizers.push(fn);
}

let cleanedUp = false;

/** Kill every tracked process (SIGTERM) and run the cleanup steps, once. Synchronous. */
export function cleanupAll(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const cp of live) {
    try {
      cp.kill('SIGTERM');
    } catch {
      /* already gone */
    }
  }
  for (const fn of finalizers.splice(0).reverse()) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}

export function installSignalHandlers(): void {
  const bail = (sig: string, code: number) => () => {
    process.stderr.write(`\nbench: ${sig}, stopping sshd/slipway and cleaning up\n`);
    cleanupAll();
    process.exit(code);
  };
  process.once('SIGINT', bail('interrupted', 130));
  process.once('SIGTERM', bail('terminated', 143));
  process.once('SIGHUP', bail('hangup', 129));
  process.once('exit', cleanupAll);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** wall time from spawn until the process exited and its pipes closed */
  ms: number;
}

/** Run a command to completion, timing it with performance.now(). Never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const cp = spawnTracked(cmd, args, opts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    cp.stdout?.on('data', (b: Buffer) => out.push(b));
    cp.stderr?.on('data', (b: Buffer) => err.push(b));
    cp.once('error', reject);
    cp.once('close', (code, signal) => {
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - t0,
      });
    });
  });
}

/** Like run() but rejects with the command's stderr when it fails. */
export async function runOk(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}: ${detail}`);
  }
  return r;
}
