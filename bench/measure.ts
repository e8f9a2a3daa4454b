/**
 * Measuring: medians of timed runs and resident-memory sampling from /proc.
 */
import { readFileSync, readdirSync } from 'node:fs';

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** VmRSS of one process in bytes, or null when it is gone. */
export function readVmRss(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** All live descendants of `root` (not root itself), by scanning /proc/<pid>/stat. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ... — comm may contain spaces/parens, so split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

function readComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/**
 * Samples memory every `intervalMs` (20 ms by default) in the background.
 * `mode: 'self'` reads VmRSS of `pid` only; `mode: 'tree'` sums VmRSS of the descendants of `pid`
 * (used for sshd, whose per-connection children and git processes do the work).
 * Peaks are tracked per "window": call mark() before an operation and peak() after it.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private windowPeak = 0;
  private last = 0;
  private ticks = 0;
  /** command names of descendant processes seen while sampling (for 'self' mode: unexpected helpers) */
  readonly childCommands = new Set<string>();

  constructor(
    private readonly pid: number,
    private readonly mode: 'self' | 'tree',
    private readonly watchChildren = false,
    private readonly intervalMs = 20,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Begin a new peak window. */
  mark(): void {
    this.sample();
    this.windowPeak = this.last;
  }

  /** Highest sample (bytes) since the last mark(), including one final sample now. */
  peak(): number {
    this.sample();
    return this.windowPeak;
  }

  current(): number {
    this.sample();
    return this.last;
  }

  private sample(): void {
    let v = 0;
    if (this.mode === 'self') {
      v = readVmRss(this.pid) ?? 0;
      // the /proc scan for children is costlier than one status read: do it every 10th sample
      if (this.watchChildren && this.ticks++ % 10 === 0) for (const c of descendants(this.pid)) this.childCommands.add(readComm(c));
    } else {
      for (const c of descendants(this.pid)) v += readVmRss(c) ?? 0;
    }
    this.last = v;
    if (v > this.windowPeak) this.windowPeak = v;
  }
}

/** Average RSS over `ms` milliseconds (for an idle baseline). */
export async function idleRss(pid: number, ms = 1000): Promise<number> {
  const xs: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = readVmRss(pid);
    if (v !== null) xs.push(v);
    await new Promise((r) => setTimeout(r, 20));
  }
  return median(xs);
}

export const MiB = 1024 * 1024;

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

export function fmtMiB(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
