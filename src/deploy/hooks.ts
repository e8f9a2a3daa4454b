import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { confinedArgv, UNCONFINED, type Confinement } from '../runners/confine.ts';
import { signalGroup } from '../runners/proc-stat.ts';

/** After the command exited, output still in the pipes is read for this long at most (a daemon it left may hold them). */
const DRAIN_MS = 2000;

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
  opts: { cwd: string; env: Record<string, string>; confine?: Confinement; onOutput: (chunk: string) => void; timeoutMs: number; onSpawn?: (pgid: number) => void },
): Promise<ShellResult> {
  const argv = confinedArgv(opts.confine ?? UNCONFINED, ['/bin/sh', '-c', cmd], opts.cwd);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    opts.onOutput(`cannot start ${argv[0]}: ${err.message}\n`);
    return { code: 127, signal: null, timedOut: false };
  }
  const pgid = child.pid;
  opts.onSpawn?.(pgid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(pgid, 'SIGKILL');
  }, opts.timeoutMs);
  const streams = [child.stdout!, child.stderr!];
  const closed = streams.map((s) => {
    s.setEncoding('utf8');
    s.on('data', (d: string) => opts.onOutput(d));
    return new Promise<void>((r) => s.once('close', () => r()));
  });
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    signalGroup(pgid, 'SIGKILL');
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([Promise.all(closed).then(() => true), new Promise<boolean>((r) => (drainTimer = setTimeout(() => r(false), DRAIN_MS)))]);
    clearTimeout(drainTimer);
    if (!drained) for (const s of streams) s.destroy();
    return { code, signal, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

export function describeExit(r: ShellResult, timeoutMs: number): string {
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exited ${r.code}`;
}
