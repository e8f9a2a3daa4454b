import { execa } from 'execa';

export interface ShellResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
}

/**
 * Runs an admin-configured command through `/bin/sh -c` with exactly `env` (nothing inherited),
 * streaming stdout and stderr together as they come.
 */
export async function runShell(
  cmd: string,
  opts: { cwd: string; env: Record<string, string>; onOutput: (chunk: string) => void; timeoutMs: number },
): Promise<ShellResult> {
  const child = execa('/bin/sh', ['-c', cmd], {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
  });
  child.all?.setEncoding('utf8');
  child.all?.on('data', (d: string) => opts.onOutput(d));
  const r = await child;
  return { code: r.exitCode ?? null, signal: r.signal ?? null, timedOut: r.timedOut };
}

export function describeExit(r: ShellResult, timeoutMs: number): string {
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.signal) return `killed by ${r.signal}`;
  return `exited ${r.code}`;
}
