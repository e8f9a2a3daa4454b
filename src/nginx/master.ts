import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { UserError } from '../lib/errors.ts';

const START_TIMEOUT_MS = 10_000;
const RELOAD_TIMEOUT_MS = 10_000;
const POLL_MS = 10;

/**
 * The managed nginx master: started by slipway with its own prefix, pid file and logs under
 * `<data>/nginx`, daemonized by nginx itself so it outlives the gateway, and adopted by the next
 * gateway through its pid file (and its command line, so a reused pid is never mistaken for it).
 */
export class NginxMaster {
  readonly pidFile: string;
  readonly confFile: string;
  readonly errorLog: string;

  constructor(readonly binary: string, readonly prefix: string) {
    this.pidFile = path.join(prefix, 'nginx.pid');
    this.confFile = path.join(prefix, 'live', 'nginx.conf');
    this.errorLog = path.join(prefix, 'logs', 'error.log');
  }

  /** The master's pid when one of ours runs. */
  pid(): number | null {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 0) return null;
    const title = cmdline(pid);
    return title.startsWith('nginx: master process') && title.includes(this.confFile) ? pid : null;
  }

  /**
   * Workers of a master that died (kill -9): they keep serving the old config and hold the
   * ports, so a new master could not bind. Known by the log files of this prefix they hold open.
   */
  orphans(): number[] {
    const logs = path.join(this.prefix, 'logs') + path.sep;
    return listProc().filter((pid) => {
      if (!cmdline(pid).startsWith('nginx: ') || parentOf(pid) !== 1) return false;
      try {
        return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
          try {
            return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(logs);
          } catch {
            return false;
          }
        });
      } catch {
        return false;
      }
    });
  }

  /** Adopts a running master or starts one on the live config (after ending a dead master's workers); says which. */
  async ensureRunning(): Promise<'adopted' | 'started'> {
    if (this.pid() !== null) return 'adopted';
    const orphans = this.orphans();
    for (const pid of orphans) process.kill(pid, 'SIGTERM');
    const gone = Date.now() + START_TIMEOUT_MS;
    while (orphans.some((pid) => cmdline(pid).startsWith('nginx: ')) && Date.now() < gone) await sleep(POLL_MS);
    const r = await execa(this.binary, ['-p', `${this.prefix}/`, '-e', this.errorLog, '-c', this.confFile], { reject: false, timeout: START_TIMEOUT_MS, stdin: 'ignore' });
    if (r.exitCode !== 0) {
      const why = firstError(`${r.stderr}\n${r.stdout}`);
      const hint = /bind\(\)|Address already in use|Permission denied/.test(why) ? ' (free that port, or choose nginx.http_port / https_port in slipway.yml; ports below 1024 need root)' : '';
      throw new UserError(`cannot start nginx: ${why}${hint}`);
    }
    const until = Date.now() + START_TIMEOUT_MS;
    while (this.pid() === null) {
      if (Date.now() > until) throw new UserError(`nginx started but wrote no pid file ${this.pidFile}; see ${this.errorLog}`);
      await sleep(POLL_MS);
    }
    return 'started';
  }

  /**
   * HUP: the master re-reads the config and starts new workers; old ones finish their requests.
   * Resolves once new workers run and the old ones stopped accepting, so every new connection
   * follows the new config.
   */
  async reload(): Promise<void> {
    const pid = this.pid();
    if (pid === null) {
      await this.ensureRunning();
      return;
    }
    const before = new Set(workers(pid));
    const logSize = sizeOf(this.errorLog);
    process.kill(pid, 'SIGHUP');
    const until = Date.now() + RELOAD_TIMEOUT_MS;
    // Done when a new worker runs and no old one still accepts (each retitles itself 'is shutting down' or exits).
    const taken = () => {
      const now = workers(pid).map((w) => ({ w, title: cmdline(w) }));
      return now.some(({ w, title }) => !before.has(w) && title === 'nginx: worker process') && !now.some(({ w, title }) => before.has(w) && title === 'nginx: worker process');
    };
    while (!taken()) {
      if (Date.now() > until) throw new UserError(`nginx did not take the new configuration: ${firstError(tailFrom(this.errorLog, logSize)) || `no new worker after ${RELOAD_TIMEOUT_MS / 1000} s`}`);
      await sleep(POLL_MS);
    }
  }

  /** Graceful stop (SIGQUIT): workers finish their requests. */
  async stop(timeoutMs = 10_000): Promise<boolean> {
    const pid = this.pid();
    if (pid === null) return false;
    process.kill(pid, 'SIGQUIT');
    const until = Date.now() + timeoutMs;
    while (cmdline(pid).startsWith('nginx: master')) {
      if (Date.now() > until) {
        process.kill(pid, 'SIGKILL');
        break;
      }
      await sleep(POLL_MS);
    }
    return true;
  }
}

/**
 * The managed master of a data dir as `slipway stop` sees it (no config at hand): the binary
 * only matters for starting, so any nginx found will do, and none is needed to stop one.
 */
export function managedMaster(dataDir: string): NginxMaster | null {
  const master = new NginxMaster('nginx', path.join(dataDir, 'nginx'));
  return master.pid() === null ? null : master;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Children of the master (its workers and cache helpers), from /proc. */
function workers(master: number): number[] {
  return listProc().filter((pid) => parentOf(pid) === master);
}

function listProc(): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function tailFrom(file: string, offset: number): string {
  try {
    return fs.readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** The first error line nginx printed, without its time stamp and `nginx:` prefix. */
export function firstError(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /\[(emerg|alert|crit|error)\]/.test(l)) ?? lines[0] ?? '';
  return line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, '').replace(/^nginx: /, '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
