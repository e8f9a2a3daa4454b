import fs from 'node:fs';
import path from 'node:path';
import { parseLogLine } from './log-line.ts';

/**
 * The log files of one directory (one branch): every process's `<runner>.<n>.log`, its stand-in's
 * `<runner>.<n>.stand-in.log` and their rotated files `….log.1` … `….log.KEEP`. Files are
 * tracked by inode, not name: when a writer rotates, the file it wrote becomes `.1` and a second
 * writer of the same process log (the old and the new release while a deploy switches) may go on
 * appending to it for a while, so every inode is read to its end until it is gone.
 */

/** `web.0.log` → the base name; `web.0.log.3` → the base and 3. */
const NAME = /^([A-Za-z0-9][A-Za-z0-9_-]*\.\d+(?:\.stand-in)?\.log)(?:\.(\d+))?$/;
/** Per file and pass: a chatty app must not keep the event loop in one read. */
const READ_CHUNK = 1024 * 1024;
const BACK_CHUNK = 64 * 1024;

export function parseLogName(name: string): { base: string; rotation: number } | null {
  const m = NAME.exec(name);
  return m ? { base: m[1]!, rotation: m[2] === undefined ? 0 : Number(m[2]) } : null;
}

interface Tracked {
  fd: number;
  ino: number;
  base: string;
  /** 0 for the file under its base name, n for `.n`: older is higher */
  rotation: number;
  /** bytes read (and delivered) so far */
  offset: number;
  /** a line the writer has not finished yet */
  partial: Buffer;
}

export type LinesListener = (base: string, lines: string[]) => void;

export class LogSet {
  private readonly tracked = new Map<number, Tracked>();
  private scanned = false;

  /** `wanted(base)`: which process logs of the directory count. */
  constructor(
    readonly dir: string,
    private readonly wanted: (base: string) => boolean = () => true,
  ) {}

  /**
   * Brings the tracked files in line with the directory. At the first scan every file counts as
   * read to its end (what it holds is the tail's, not news); an inode found later is new and read
   * from its start. Returns the lines of files that were gone since the last pass.
   */
  scan(onLines?: LinesListener): void {
    const seen = new Set<number>();
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      names = [];
    }
    for (const name of names) {
      const parsed = parseLogName(name);
      if (!parsed || !this.wanted(parsed.base)) continue;
      let st: fs.Stats;
      try {
        st = fs.statSync(path.join(this.dir, name));
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      seen.add(st.ino);
      const known = this.tracked.get(st.ino);
      if (known) {
        known.rotation = parsed.rotation;
        continue;
      }
      let fd: number;
      try {
        fd = fs.openSync(path.join(this.dir, name), 'r');
      } catch {
        continue;
      }
      const size = fs.fstatSync(fd).size;
      this.tracked.set(st.ino, { fd, ino: st.ino, base: parsed.base, rotation: parsed.rotation, offset: this.scanned ? 0 : size, partial: Buffer.alloc(0) });
    }
    this.scanned = true;
    for (const t of this.tracked.values()) {
      if (seen.has(t.ino)) continue;
      // Rotated out of the kept files: what its writers added last is still news.
      if (onLines) while (this.readFile(t, onLines));
      fs.closeSync(t.fd);
      this.tracked.delete(t.ino);
    }
  }

  /** Reads what every tracked file gained; true when some file has more than one chunk could take. */
  read(onLines: LinesListener): boolean {
    let more = false;
    // Oldest first, so a process's lines come in the order it wrote them.
    for (const t of [...this.tracked.values()].sort((a, b) => b.rotation - a.rotation)) more = this.readFile(t, onLines) || more;
    return more;
  }

  private readFile(t: Tracked, onLines: LinesListener): boolean {
    let size: number;
    try {
      size = fs.fstatSync(t.fd).size;
    } catch {
      return false;
    }
    if (size < t.offset) {
      // Truncated by hand: start over.
      t.offset = 0;
      t.partial = Buffer.alloc(0);
    }
    if (size === t.offset) return false;
    const len = Math.min(size - t.offset, READ_CHUNK);
    const buf = Buffer.allocUnsafe(len);
    const n = fs.readSync(t.fd, buf, 0, len, t.offset);
    t.offset += n;
    const data = t.partial.length ? Buffer.concat([t.partial, buf.subarray(0, n)]) : buf.subarray(0, n);
    const end = data.lastIndexOf(10);
    if (end < 0) {
      t.partial = Buffer.from(data);
    } else {
      t.partial = Buffer.from(data.subarray(end + 1));
      onLines(t.base, data.subarray(0, end).toString('utf8').split('\n'));
    }
    return t.offset < size;
  }

  /**
   * The last `n` complete lines of each process log, oldest first, as far as this set has read
   * (so a follower that goes on from here neither repeats nor misses a line).
   */
  tail(n: number): Map<string, string[]> {
    const byBase = new Map<string, Tracked[]>();
    for (const t of this.tracked.values()) byBase.set(t.base, [...(byBase.get(t.base) ?? []), t]);
    const out = new Map<string, string[]>();
    for (const [base, files] of byBase) {
      let lines: string[] = [];
      // Newest file first, going back until n lines are there.
      for (const t of files.sort((a, b) => a.rotation - b.rotation)) {
        if (lines.length >= n) break;
        lines = [...lastLines(t.fd, t.offset - t.partial.length, n - lines.length), ...lines];
      }
      out.set(base, lines);
    }
    return out;
  }

  close(): void {
    for (const t of this.tracked.values()) fs.closeSync(t.fd);
    this.tracked.clear();
  }
}

/** The last `n` lines of the first `end` bytes of a file (which end at a newline or at 0). */
function lastLines(fd: number, end: number, n: number): string[] {
  if (n <= 0 || end <= 0) return [];
  const chunks: Buffer[] = [];
  let pos = end;
  let newlines = 0;
  // n lines need n+1 newlines before them unless the file starts there; the one ending the data does not count.
  while (pos > 0 && newlines <= n) {
    const len = Math.min(BACK_CHUNK, pos);
    pos -= len;
    const buf = Buffer.allocUnsafe(len);
    fs.readSync(fd, buf, 0, len, pos);
    chunks.unshift(buf);
    for (let i = 0; i < len; i++) if (buf[i] === 10) newlines++;
  }
  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  lines.pop(); // after the last newline: nothing
  // The first piece may be the end of an earlier line (pos > 0).
  if (pos > 0) lines.shift();
  return lines.slice(-n);
}

/**
 * Bytes a failing start reads back through for its own lines, past those of the release running
 * beside it (which may log thousands of requests meanwhile): a bound on disk reads, not lines.
 */
const LOOKBACK_BYTES = 32 * 1024 ** 2;

/** The last `n` lines (their text) that `release`'s process wrote to a process log and its rotated files. */
export function releaseLines(logFile: string, release: string, n: number): string[] {
  const found: string[] = [];
  const budget = { bytes: LOOKBACK_BYTES };
  // FILE, then FILE.1, FILE.2, ...: newest first, as the writer rotates them.
  for (let i = 0; found.length < n && budget.bytes > 0; i++) {
    const file = i === 0 ? logFile : `${logFile}.${i}`;
    if (!fs.existsSync(file)) break;
    for (const line of linesBackward(file, budget)) {
      const l = parseLogLine(line);
      if (l.release !== release) continue;
      found.unshift(l.text);
      if (found.length >= n) break;
    }
  }
  return found;
}

/** A file's lines from the last to the first, reading at most `budget.bytes` (shared) of it. */
function* linesBackward(file: string, budget: { bytes: number }): Generator<string> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return; // rotated away meanwhile
  }
  try {
    let pos = fs.fstatSync(fd).size;
    let rest = Buffer.alloc(0);
    while (pos > 0 && budget.bytes > 0) {
      const len = Math.min(BACK_CHUNK, pos);
      pos -= len;
      budget.bytes -= len;
      const buf = Buffer.allocUnsafe(len);
      fs.readSync(fd, buf, 0, len, pos);
      let data = Buffer.concat([buf, rest]);
      // Before the first newline may be the end of an earlier line: kept for the next chunk.
      const first = pos > 0 ? data.indexOf(10) : -1;
      rest = first >= 0 ? data.subarray(0, first) : pos > 0 ? data : Buffer.alloc(0);
      data = first >= 0 ? data.subarray(first + 1) : pos > 0 ? Buffer.alloc(0) : data;
      const lines = data.toString('utf8').split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      for (let k = lines.length - 1; k >= 0; k--) yield lines[k]!;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A LogSet that delivers new lines as they are written: inotify on the directory (one watch for
 * every file in it, rotations included), so an idle follower costs nothing. Where the watch
 * cannot be had (inotify limits), it polls every POLL_MS instead.
 */
export class LogFollower {
  static readonly POLL_MS = 200;
  private readonly set: LogSet;
  private watcher: fs.FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;
  private pending: NodeJS.Immediate | null = null;
  private rescan = false;
  private readonly listeners = new Set<LinesListener>();

  constructor(dir: string, wanted?: (base: string) => boolean) {
    fs.mkdirSync(dir, { recursive: true });
    this.set = new LogSet(dir, wanted);
    this.set.scan();
    try {
      this.watcher = fs.watch(dir, { persistent: false }, (event) => this.schedule(event === 'rename'));
      this.watcher.on('error', () => this.poll());
    } catch {
      this.poll();
    }
  }

  private poll(): void {
    this.watcher?.close();
    this.watcher = null;
    this.poller ??= setInterval(() => this.schedule(true), LogFollower.POLL_MS).unref();
  }

  private schedule(rescan: boolean): void {
    this.rescan ||= rescan;
    // A burst of writes is many events: one pass per turn of the event loop takes them all.
    this.pending ??= setImmediate(() => {
      this.pending = null;
      this.pass();
    });
  }

  /** Reads what is new now (also called before slipway's own notes, so they come after the lines before them). */
  pass(): void {
    const deliver: LinesListener = (base, lines) => {
      for (const l of this.listeners) l(base, lines);
    };
    if (this.rescan) {
      this.rescan = false;
      this.set.read(deliver);
      this.set.scan(deliver);
    }
    if (this.set.read(deliver)) this.schedule(false);
  }

  /** The tail as far as delivered, then every new line to `listener` until the returned function is called. */
  subscribe(n: number, listener: LinesListener): { tail: Map<string, string[]>; stop: () => void } {
    this.listeners.add(listener);
    return { tail: this.set.tail(n), stop: () => this.listeners.delete(listener) };
  }

  get idle(): boolean {
    return this.listeners.size === 0;
  }

  close(): void {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
    if (this.pending) clearImmediate(this.pending);
    this.set.close();
    this.listeners.clear();
  }
}
