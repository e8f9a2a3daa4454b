import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { confinedArgv, UNCONFINED, type Confinement } from '../runners/confine.ts';
import { signalGroup } from '../runners/proc-stat.ts';

/** After the command exited, its pipes are read until they close, or until nothing came for this long (a daemon it left may hold them). */
const DRAIN_IDLE_MS = 2000;
/** With this much not yet taken by the reader, the command's pipes are not read: it waits, nothing piles up here. */
const MAX_BACKLOG = 1024 * 1024;

/** Sessions (= process groups) of the commands running now, builds and custom commands alike. */
const running = new Set<number>();
export function runningShells(): ReadonlySet<number> {
  return running;
}

export interface ShellResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
}

/**
 * Runs an admin-configured command through `/bin/sh -c`, confined as its repo's code is, with
 * exactly `env` (nothing inherited), streaming stdout and stderr as they come (nothing is kept
 * here). The command gets its own process group. It is over when its shell exits: whatever it
 * left in its group is killed then (in a sandbox, bwrap ends everything left inside), so a daemon
 * started by a build cannot hold the deploy; at the timeout the whole group is killed.
 */
export async function runShell(
  cmd: string,
  opts: {
    cwd: string;
    env: Record<string, string>;
    confine?: Confinement;
    onOutput: (chunk: string) => void;
    /** bytes `onOutput` has not delivered yet; over MAX_BACKLOG the command is held back */
    backlog?: () => number;
    timeoutMs: number;
    onSpawn?: (pgid: number) => void;
  },
): Promise<ShellResult> {
  const argv = confinedArgv(opts.confine ?? UNCONFINED, ['/bin/sh', '-c', cmd], opts.cwd);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    opts.onOutput(`cannot start ${argv[0]}: ${err.message}\n`);
    return { code: 127, signal: null, timedOut: false };
  }
  const pgid = child.pid;
  running.add(pgid);
  opts.onSpawn?.(pgid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(pgid, 'SIGKILL');
  }, opts.timeoutMs);
  const streams = [child.stdout!, child.stderr!];
  let held: NodeJS.Timeout | undefined;
  const holdBack = () => {
    if (held || !opts.backlog || opts.backlog() <= MAX_BACKLOG) return;
    for (const s of streams) s.pause();
    held = setInterval(() => {
      if (opts.backlog!() > MAX_BACKLOG / 2) return;
      clearInterval(held);
      held = undefined;
      for (const s of streams) s.resume();
    }, 20);
  };
  let lastData = Date.now();
  const closed = streams.map((s) => {
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      lastData = Date.now();
      opts.onOutput(d);
      holdBack();
    });
    return new Promise<void>((r) => s.once('close', () => r()));
  });
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    signalGroup(pgid, 'SIGKILL');
    // Held back by a slow reader is not idle: that output is still coming.
    let idleCheck: NodeJS.Timeout | undefined;
    const idle = new Promise<false>((r) => {
      idleCheck = setInterval(() => {
        if (!held && Date.now() - lastData > DRAIN_IDLE_MS) r(false);
      }, 100);
    });
    const drained = await Promise.race([Promise.all(closed).then(() => true), idle]);
    clearInterval(idleCheck);
    if (!drained) for (const s of streams) s.destroy();
    return { code, signal, timedOut };
  } finally {
    running.delete(pgid);
    clearTimeout(timer);
    clearInterval(held);
  }
}

export function describeExit(r: ShellResult, timeoutMs: number): string {
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exited ${r.code}`;
}
