import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.ts';

/**
 * One gateway per data dir: two would race on refs and state. The lock is a pid file; a pid that
 * no longer runs (a killed gateway) is stale and taken over.
 */
export function acquireDataDirLock(dataDir: string): void {
  const file = path.join(dataDir, 'slipway.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      process.on('exit', () => {
        if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
      });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = readPid(file);
      if (pid !== null && pid !== process.pid && alive(pid)) {
        throw new UserError(`${dataDir} is in use by another slipway (pid ${pid}); stop it first or use --data`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new UserError(`cannot lock ${dataDir} (remove ${file} if no slipway runs)`);
}

/** The pid of the gateway that holds this data dir, or null when none runs. */
export function runningGateway(dataDir: string): number | null {
  const pid = readPid(path.join(dataDir, 'slipway.pid'));
  return pid !== null && alive(pid) ? pid : null;
}

function readPid(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** A running slipway: a live pid whose command line is ours (a pid reused by anything else is stale). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('slipway');
  } catch {
    return true; // no /proc to ask: trust the pid
  }
}
