import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../lib/errors.ts';
import { parseLogLine } from '../runners/log-line.ts';
import { LogFollower, LogSet } from '../runners/log-files.ts';
import { describeExit, type ProcessStatus } from '../runners/supervisor.ts';
import type { ServiceEvent, ServiceEvents } from './events.ts';

/** One line of a branch's logs, as `logs` and the dashboard show it. */
export interface LogLine {
  /** `web.0`, or `web.0 stand-in` for the process that takes a restart's traffic meanwhile */
  source: string;
  runner: string;
  index: number;
  /** the release whose process printed it (null: an old-format line, see log-line.ts) */
  release: string | null;
  /** microseconds since the epoch; NaN for a line without a timestamp */
  time: number;
  text: string;
  /** slipway's own note about the process (started, exited, stopped), not a line it printed */
  note?: boolean;
}

export interface LogQuery {
  repo: string;
  branch: string;
  /** only this runner's processes */
  runner?: string;
  /** how many of the last lines (default 100) */
  lines?: number;
}

export const DEFAULT_TAIL_LINES = 100;
/** Lines before a follower's first one arrive in one piece; past this a tail is cut (the command's -n is capped to it). */
export const MAX_TAIL_LINES = 10_000;

/** `web.0 | text`, the source padded to `width`. */
export function formatLogLine(l: LogLine, width = 0): string {
  return `${l.source.padEnd(width)} | ${l.text}`;
}

function sourceOf(base: string): { source: string; runner: string; index: number } {
  const m = /^(.+)\.(\d+)(\.stand-in)?\.log$/.exec(base)!;
  return { source: `${m[1]}.${m[2]}${m[3] ? ' stand-in' : ''}`, runner: m[1]!, index: Number(m[2]) };
}

function toLines(base: string, raw: string[]): LogLine[] {
  const src = sourceOf(base);
  let last = NaN;
  return raw.map((r) => {
    const p = parseLogLine(r);
    // A line without a time sorts with the one before it.
    if (Number.isNaN(p.time)) p.time = last;
    last = p.time;
    return { ...src, ...p };
  });
}

/** Oldest first across processes; a process's own order is kept where times tie. */
function byTime(lines: LogLine[]): LogLine[] {
  return lines.map((l, i) => ({ l, i })).sort((a, b) => (a.l.time || 0) - (b.l.time || 0) || a.i - b.i).map((x) => x.l);
}

function note(p: ProcessStatus, text: string): LogLine {
  const src = sourceOf(path.basename(p.logFile));
  return { ...src, release: p.release, time: Date.now() * 1000, text: `-- ${p.release} ${text}`, note: true };
}

/** What a process event means to someone following its log; null for other events. */
function noteFor(e: ServiceEvent): { process: ProcessStatus; line: LogLine } | null {
  if (!('process' in e)) return null;
  const p = e.process;
  const where = `pid ${p.pid}${p.port === undefined ? '' : `, port ${p.port}`}`;
  switch (e.type) {
    case 'process-started':
      return { process: p, line: note(p, `started (${where})`) };
    case 'process-restarted':
      return { process: p, line: note(p, `restarted (${where}, restart ${p.restarts})`) };
    case 'process-exited':
      return { process: p, line: note(p, `exited (${p.lastExit ? describeExit(p.lastExit) : 'exit status unknown'}); restarting`) };
    case 'process-crash-loop':
      return { process: p, line: note(p, `exited (${p.lastExit ? describeExit(p.lastExit) : 'exit status unknown'}) again: crash loop, retried every 30 s`) };
    case 'process-stopped':
      return { process: p, line: note(p, 'stopped') };
    default:
      return null;
  }
}

/**
 * Reads and follows the app logs of branches (`<data>/logs/<repo>/<branch>/<runner>.<n>.log`,
 * written by each process's log writer) and their deploy logs. Followers of one branch share one
 * directory watch; slipway's own news about the processes comes from the service events, not
 * from the files. Access is the service's to check: this module answers whoever asks.
 */
export class Logs {
  private readonly followers = new Map<string, LogFollower>();

  constructor(
    private readonly logDir: (repo: string, branch: string) => string,
    private readonly events: ServiceEvents,
  ) {}

  private wanted(q: LogQuery): (base: string) => boolean {
    return (base) => q.runner === undefined || sourceOf(base).runner === q.runner;
  }

  /** The last lines of the branch's processes, merged by time. */
  tail(q: LogQuery): LogLine[] {
    const n = Math.min(q.lines ?? DEFAULT_TAIL_LINES, MAX_TAIL_LINES);
    const set = new LogSet(this.logDir(q.repo, q.branch), this.wanted(q));
    try {
      set.scan();
      return lastOf(set.tail(n), n);
    } finally {
      set.close();
    }
  }

  /**
   * The tail, then every line as it is written and a note per process start, exit and stop
   * (so a deploy's new processes appear and the old ones end), to `onLines` until the returned
   * function is called. `onLines` gets the tail before `follow` returns.
   */
  follow(q: LogQuery, onLines: (lines: LogLine[]) => void): () => void {
    const n = Math.min(q.lines ?? DEFAULT_TAIL_LINES, MAX_TAIL_LINES);
    const dir = this.logDir(q.repo, q.branch);
    let follower = this.followers.get(dir);
    if (!follower) {
      follower = new LogFollower(dir);
      this.followers.set(dir, follower);
    }
    const f = follower;
    const wanted = this.wanted(q);
    const { tail, stop } = f.subscribe(n, (base, raw) => {
      if (wanted(base)) onLines(toLines(base, raw));
    });
    const filtered = new Map([...tail].filter(([base]) => wanted(base)));
    const offEvents = this.events.on((e) => {
      const n = noteFor(e);
      if (!n || n.process.repo !== q.repo || n.process.branch !== q.branch) return;
      if (q.runner !== undefined && n.process.runner !== q.runner) return;
      // What the process printed before this is delivered first.
      f.pass();
      onLines([n.line]);
    });
    onLines(lastOf(filtered, n));
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      offEvents();
      stop();
      if (f.idle) {
        f.close();
        this.followers.delete(dir);
      }
    };
  }

  /** Directories watched now (one per followed branch): for tests of the clean-up. */
  get watching(): number {
    return this.followers.size;
  }

  /** The deploy log of a release (default: the newest deploy, whether it succeeded or not). */
  deployLog(repo: string, branch: string, release?: string): { release: string; text: string } {
    const dir = this.logDir(repo, branch);
    const ids = deployLogIds(dir);
    if (release !== undefined && !/^r\d+$/.test(release)) throw new UserError(`invalid release '${release}' (expected r<number>, e.g. r3)`, 2);
    const id = release ?? ids.at(-1);
    if (id === undefined) throw new UserError(`${repo}/${branch} has no deploy log yet (push to deploy it)`);
    if (!ids.includes(id)) throw new UserError(`no deploy log of ${id} for ${repo}/${branch} (kept: ${ids.join(', ') || 'none'})`);
    return { release: id, text: fs.readFileSync(path.join(dir, `deploy-${id}.log`), 'utf8') };
  }
}

/** `deploy-r<n>.log` files of a branch, oldest first. */
function deployLogIds(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^deploy-(r\d+)\.log$/.exec(n)?.[1])
    .filter((id): id is string => id !== undefined)
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
}

function lastOf(tail: Map<string, string[]>, n: number): LogLine[] {
  return byTime([...tail].flatMap(([base, raw]) => toLines(base, raw))).slice(-n);
}
