import { execa } from 'execa';
import { signalGroup } from '../runners/proc-stat.ts';

export interface ShellResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
}

/**
 * Runs an admin-configured command through `/bin/sh -c` with exactly `env` (nothing inherited),
 * streaming stdout and stderr together as they come. The command gets its own process group, so
 * a timeout (or a later start after a gateway kill) can end everything it started.
 */
export async function runShell(
  cmd: string,
  opts: { cwd: string; env: Record<string, string>; onOutput: (chunk: string) => void; timeoutMs: number; onSpawn?: (pgid: number) => void },
): Promise<ShellResult> {
  const child = execa('/bin/sh', ['-c', cmd], {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    detached: true,
  });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
  }, opts.timeoutMs);
  child.all?.setEncoding('utf8');
  child.all?.on('data', (d: string) => opts.onOutput(d));
  try {
    const r = await child;
    return { code: r.exitCode ?? null, signal: r.signal ?? null, timedOut };
  } finally {
    clearTimeout(timer);
  }
}

export function describeExit(r: ShellResult, timeoutMs: number): string {
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exited ${r.code}`;
}
