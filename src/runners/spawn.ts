import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { confinedArgv, UNCONFINED } from './confine.ts';
import { readProcStat } from './proc-stat.ts';
import type { ProcessSpec } from './supervisor.ts';

const LOG_WRITER = fileURLToPath(new URL('./log-writer.sh', import.meta.url));

/**
 * Runs as `bash -c WRAPPER slipway-app <writer> <log> <max> <keep> <tag> exec|wait <argv…>`. It closes
 * the fds the gateway inherited from its own parent (the app must not hold them), sends
 * stdout+stderr through the log writer (a child in the same process group, so it outlives the
 * gateway like the app; it stays the gateway's user, writing where the app cannot), and then:
 * `exec`: becomes the (confined) app, so the pid Node sees is the app's and leads its group;
 * `wait` (sandboxed apps): stays as the parent of bwrap, ignoring the group's SIGTERM like bwrap
 * does (inherited), so that the app gets it and bwrap ends the sandbox only when the app has
 * exited; the wrapper then exits with the app's status. The writer's settings are positional
 * args, so none of them appears in the app's environment.
 */
const WRAPPER = [
  'for fd in /proc/self/fd/*; do fd=${fd##*/}; ((fd > 2)) && exec {fd}>&-; done',
  'exec > >(exec "$BASH" "$1" "$2" "$3" "$4" "$5") 2>&1',
  'if [[ $6 == wait ]]; then trap "" TERM INT HUP; "${@:7}" & wait $!; exit; fi',
  'exec "${@:7}"',
].join('\n');

export interface LogLimits {
  maxBytes: number;
  keep: number;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  startTicks: number;
}

/** Starts the app detached (own session, stdio of the spawn itself ignored) and unref'd. */
export async function spawnApp(spec: ProcessSpec, limits: LogLimits): Promise<Spawned> {
  if (!fs.statSync(spec.cwd, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`working directory ${spec.cwd} does not exist`);
  }
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
  const c = spec.confine ?? UNCONFINED;
  // In a sandbox the shell is the first process bwrap starts: dying of the group's SIGTERM at
  // once, it would end the sandbox and SIGKILL the app before the app had stopped. A trap that
  // does nothing keeps the shell until the app has exited; the app gets the default handling back.
  const script = c.mode === 'sandbox' ? `trap : TERM INT HUP\n${spec.cmd}` : spec.cmd;
  const argv = confinedArgv(c, ['/bin/sh', '-c', script], spec.cwd);
  const args = ['-c', WRAPPER, 'slipway-app', LOG_WRITER, spec.logFile, String(limits.maxBytes), String(limits.keep), spec.release, c.mode === 'sandbox' ? 'wait' : 'exec', ...argv];
  const child = spawn('/bin/bash', args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    throw new Error(`cannot start /bin/bash: ${err.message}`);
  }
  // Read in the same tick as the spawn: the child cannot have been reaped yet.
  const stat = readProcStat(child.pid);
  if (!stat) throw new Error(`process ${child.pid} vanished right after spawning`);
  return { child, pid: child.pid, startTicks: stat.startTicks };
}
