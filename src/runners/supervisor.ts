import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.ts';
import { bootId, isSameProcess, liveGroupMembers, signalGroup, waitUntil } from './proc-stat.ts';
import { loadState, saveState, type ProcessRecord } from './process-state.ts';
import { spawnApp, type LogLimits } from './spawn.ts';
import type { Confinement } from './confine.ts';

export interface ProcessSpec {
  /** Unique, e.g. 'hello/main/r3/web/0' (repo/branch/release/runner/index; the branch may contain '/'). */
  id: string;
  repo: string;
  branch: string;
  release: string;
  runner: string;
  index: number;
  /** Admin-configured, run as `/bin/sh -c cmd`. */
  cmd: string;
  /** The release checkout. */
  cwd: string;
  /** The complete environment: nothing of the gateway's is added. */
  env: Record<string, string>;
  /** For backends (already in env.PORT). */
  port?: number;
  /** Absolute; rotated to logFile.1 … logFile.N. */
  logFile: string;
  /** The user, sandbox and limits it runs with; absent: the gateway's own user, unlimited (state files of older versions). */
  confine?: Confinement;
}

/** `backoff`: waiting to restart after a crash; `crash-loop`: the same, after 5 crashes within 2 minutes. */
export type ProcessState = 'running' | 'backoff' | 'crash-loop' | 'stopping';

export interface ProcessStatus extends ProcessSpec {
  pid: number | null;
  state: ProcessState;
  /** Restarts after crashes. */
  restarts: number;
  /** When the current pid started (ms since the epoch). */
  startedAt: number;
  /** code and signal are null when the process was adopted (not our child) or never started. */
  lastExit?: { code: number | null; signal: string | null; at: number };
}

/** `code 3`, `signal SIGKILL`, or `exit status unknown` (an adopted process is not our child). */
export function describeExit(exit: { code: number | null; signal: string | null }): string {
  if (exit.signal !== null) return `signal ${exit.signal}`;
  return exit.code !== null ? `code ${exit.code}` : 'exit status unknown';
}

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 };
/** Up this long, a process has recovered: its backoff and crash count start over. */
const STABLE_MS = 30_000;
const CRASH_LOOP_CRASHES = 5;
const CRASH_LOOP_WINDOW_MS = 120_000;
/** Adopted processes are not our children (no 'exit' event): their end is seen by polling /proc. */
const ADOPTED_POLL_MS = 500;
const DEFAULT_GRACE_MS = 10_000;
/** After SIGKILL the kernel needs moments, not seconds; this only bounds a hung wait. */
const KILL_WAIT_MS = 5000;
const STOP_POLL_MS = 20;

interface Entry {
  rec: ProcessRecord;
  /** Set when this gateway spawned the current pid. */
  child?: ChildProcess;
  /** Pending restart after a crash. */
  timer?: NodeJS.Timeout;
  /** Backoff before the next restart. */
  delayMs: number;
  /** Times of the crashes within the crash-loop window. */
  crashes: number[];
  launching?: Promise<void>;
  stopping?: Promise<void>;
}

/**
 * Owns the app processes: starts them detached so they outlive the gateway, restarts them when
 * they crash, records them in a state file on every change, and adopts them again after a
 * gateway restart. Emits 'start', 'crash', 'restart' and 'stop' with the process's status.
 */
export class Supervisor extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly stateFile: string;
  private readonly log: Logger;
  private readonly limits: LogLimits;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly bootId = bootId();
  private poller?: NodeJS.Timeout;
  private detached = false;

  constructor(opts: { stateFile: string; log: Logger; logLimits: LogLimits; backoff?: { initialMs: number; maxMs: number } }) {
    super();
    this.stateFile = opts.stateFile;
    this.log = opts.log;
    this.limits = opts.logLimits;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  /** Loads the state file: adopts every recorded process still running, restarts those that died meanwhile. */
  async init(): Promise<void> {
    const saved = loadState(this.stateFile, this.log);
    const sameBoot = saved?.bootId === this.bootId;
    const relaunch: Entry[] = [];
    const unfinishedStops: Entry[] = [];
    for (const rec of saved?.processes ?? []) {
      if (this.entries.has(rec.id)) continue;
      const e: Entry = { rec, delayMs: this.backoff.initialMs, crashes: [] };
      this.entries.set(rec.id, e);
      const alive = sameBoot && rec.pid !== null && rec.startTicks !== null && isSameProcess(rec.pid, rec.startTicks);
      if (!alive && rec.pid !== null) rec.lastExit = { code: null, signal: null, at: Date.now() };
      if (!alive) Object.assign(rec, { pid: null, startTicks: null });
      if (rec.state === 'stopping') {
        unfinishedStops.push(e);
      } else if (alive) {
        rec.state = 'running';
        this.log.info('adopted', { id: rec.id, pid: rec.pid });
      } else {
        relaunch.push(e);
      }
    }
    this.save();
    // A stop the previous gateway did not finish was still meant: finish it.
    const stops = unfinishedStops.map((e) => this.stop(e.rec.id));
    this.poller = setInterval(() => this.pollAdopted(), ADOPTED_POLL_MS).unref();
    for (const e of relaunch) {
      this.log.warn('process ended while no gateway ran; restarting', { id: e.rec.id });
      await this.respawn(e);
    }
    await Promise.all(stops);
  }

  /** Spawns the process and records it (atomically, on disk) before returning. */
  async start(spec: ProcessSpec): Promise<ProcessStatus> {
    if (this.detached) throw new Error(`cannot start ${spec.id}: the supervisor is detached`);
    if (this.entries.has(spec.id)) throw new Error(`cannot start ${spec.id}: already supervised`);
    const rec: ProcessRecord = { ...specOf(spec), pid: null, startTicks: null, state: 'running', restarts: 0, startedAt: Date.now() };
    const e: Entry = { rec, delayMs: this.backoff.initialMs, crashes: [] };
    this.entries.set(spec.id, e);
    try {
      await this.launch(e);
    } catch (err) {
      this.entries.delete(spec.id);
      throw err;
    }
    this.emit('start', this.status(e));
    return this.status(e);
  }

  /** Not a crash: SIGTERM to the process group, SIGKILL after `graceMs`, then the record is forgotten. */
  stop(id: string, graceMs = DEFAULT_GRACE_MS): Promise<void> {
    const e = this.entries.get(id);
    if (!e) return Promise.resolve();
    e.stopping ??= this.terminate(e, graceMs);
    return e.stopping;
  }

  /** Not a crash: stops the process and starts the same spec again (same port), with a fresh backoff. */
  async restart(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (!e) throw new Error(`cannot restart ${id}: not supervised`);
    const spec = specOf(e.rec);
    await this.stop(id);
    await this.start(spec);
  }

  list(filter?: (s: ProcessStatus) => boolean): ProcessStatus[] {
    const all = [...this.entries.values()].map((e) => this.status(e));
    return filter ? all.filter(filter) : all;
  }

  get(id: string): ProcessStatus | undefined {
    const e = this.entries.get(id);
    return e && this.status(e);
  }

  isAlive(id: string): boolean {
    const rec = this.entries.get(id)?.rec;
    return rec?.pid != null && rec.startTicks !== null && isSameProcess(rec.pid, rec.startTicks);
  }

  /** The gateway is going away: stop watching and writing, and leave every process running. */
  detach(): void {
    this.detached = true;
    clearInterval(this.poller);
    for (const e of this.entries.values()) clearTimeout(e.timer);
  }

  private async launch(e: Entry): Promise<void> {
    const run = async () => {
      const spawned = await spawnApp(e.rec, this.limits).catch((err: Error) => {
        throw new Error(`cannot start ${e.rec.id}: ${err.message}`);
      });
      Object.assign(e.rec, { pid: spawned.pid, startTicks: spawned.startTicks, startedAt: Date.now(), state: 'running' });
      e.child = spawned.child;
      spawned.child.once('exit', (code, signal) => this.exited(e, spawned.pid, { code, signal }));
      this.save();
    };
    e.launching = run();
    try {
      await e.launching;
    } finally {
      e.launching = undefined;
    }
  }

  private pollAdopted(): void {
    for (const e of this.entries.values()) {
      const { pid, startTicks } = e.rec;
      if (e.child || pid === null || startTicks === null) continue;
      if (!isSameProcess(pid, startTicks)) this.exited(e, pid, { code: null, signal: null });
    }
  }

  private exited(e: Entry, pid: number, exit: { code: number | null; signal: string | null }): void {
    if (this.detached || e.stopping || e.rec.pid !== pid) return;
    // What the app left behind in its group would run on beside the restarted app; the writer ignores SIGTERM and drains.
    signalGroup(pid, 'SIGTERM');
    this.crashed(e, { ...exit, at: Date.now() });
  }

  /** Schedules the restart: backoff doubling up to the max, and the crash-loop state after repeated crashes. */
  private crashed(e: Entry, lastExit: NonNullable<ProcessStatus['lastExit']>): void {
    const now = lastExit.at;
    if (now - e.rec.startedAt >= STABLE_MS) {
      e.delayMs = this.backoff.initialMs;
      e.crashes = [];
    }
    e.crashes = [...e.crashes.filter((t) => now - t < CRASH_LOOP_WINDOW_MS), now];
    const looping = e.crashes.length >= CRASH_LOOP_CRASHES;
    const delay = looping ? this.backoff.maxMs : e.delayMs;
    e.delayMs = Math.min(e.delayMs * 2, this.backoff.maxMs);
    Object.assign(e.rec, { pid: null, startTicks: null, state: looping ? 'crash-loop' : 'backoff', lastExit });
    e.child = undefined;
    this.save();
    this.log.warn(looping ? 'crash loop: process keeps exiting' : 'process exited', {
      id: e.rec.id,
      exit: describeExit(lastExit),
      restartInMs: delay,
      restarts: e.rec.restarts,
    });
    this.emit('crash', this.status(e));
    e.timer = setTimeout(() => void this.respawn(e), delay).unref();
  }

  private async respawn(e: Entry): Promise<void> {
    e.timer = undefined;
    if (this.detached || e.stopping) return;
    e.rec.restarts++;
    try {
      await this.launch(e);
    } catch (err) {
      this.log.error('restart failed', { id: e.rec.id, error: (err as Error).message });
      e.rec.startedAt = Date.now();
      this.crashed(e, { code: null, signal: null, at: e.rec.startedAt });
      return;
    }
    this.log.info('restarted', { id: e.rec.id, pid: e.rec.pid, restarts: e.rec.restarts });
    this.emit('restart', this.status(e));
  }

  private async terminate(e: Entry, graceMs: number): Promise<void> {
    clearTimeout(e.timer);
    await e.launching?.catch(() => undefined);
    e.rec.state = 'stopping';
    this.save();
    const { pid, startTicks } = e.rec;
    // Signal the group only while its leader is ours: once it is gone the pgid could be reused.
    if (pid !== null && startTicks !== null && isSameProcess(pid, startTicks)) {
      const gone = () => !isSameProcess(pid, startTicks) && liveGroupMembers(pid).length === 0;
      signalGroup(pid, 'SIGTERM');
      if (!(await waitUntil(gone, graceMs, STOP_POLL_MS))) {
        this.log.warn('still running after the grace period; killing its process group', { id: e.rec.id, pid, graceMs });
        signalGroup(pid, 'SIGKILL');
        await waitUntil(gone, KILL_WAIT_MS, STOP_POLL_MS);
      }
    }
    this.entries.delete(e.rec.id);
    this.save();
    this.log.info('stopped', { id: e.rec.id, pid });
    this.emit('stop', this.status(e));
  }

  private status(e: Entry): ProcessStatus {
    const { startTicks, ...status } = e.rec;
    return { ...status, env: { ...status.env } };
  }

  private save(): void {
    if (this.detached) return;
    saveState(this.stateFile, { bootId: this.bootId, processes: [...this.entries.values()].map((e) => e.rec) });
  }
}

function specOf(s: ProcessSpec): ProcessSpec {
  const { id, repo, branch, release, runner, index, cmd, cwd, env, port, logFile, confine } = s;
  return { id, repo, branch, release, runner, index, cmd, cwd, env, ...(port === undefined ? {} : { port }), logFile, ...(confine ? { confine } : {}) };
}
