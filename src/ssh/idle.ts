import type { ServerChannel } from 'ssh2';

/**
 * When a logged-in connection counts as idle: no channel data either way for the timeout.
 * Keepalives and other global requests are not activity (a socket timeout would take them as
 * such, so `ssh -N -o ServerAliveInterval=5` could hold a slot forever). A stream the server
 * feeds when it has something (the dashboard, `logs -f`) holds the connection open meanwhile;
 * the per-user caps bound how many of those one key can keep.
 */
export class IdleWatch {
  private last = Date.now();
  private streams = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly timeoutMs: () => number,
    private readonly onIdle: () => void,
  ) {
    this.arm(this.timeoutMs());
  }

  touch(): void {
    this.last = Date.now();
  }

  /** Marks a stream open until the returned function is called (once is enough; more are ignored). */
  hold(): () => void {
    this.streams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.streams--;
      this.touch();
    };
  }

  /** Counts a channel's data in both directions as activity. */
  watch(ch: ServerChannel): void {
    const push = ch.push.bind(ch);
    ch.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk !== null) this.touch();
      return push(chunk, encoding);
    };
    for (const w of [ch, ch.stderr] as unknown as { _write: (c: unknown, e: BufferEncoding, cb: () => void) => void }[]) {
      const write = w._write.bind(w);
      w._write = (c, e, cb) => {
        this.touch();
        write(c, e, cb);
      };
    }
  }

  /** The timeout may have changed (a config reload): decide again now, not when the old timer ends. */
  recheck(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.check(), Math.max(ms, 50));
  }

  private check(): void {
    const timeout = this.timeoutMs();
    const quiet = Date.now() - this.last;
    if (this.streams > 0) return this.arm(timeout);
    if (quiet >= timeout) return this.onIdle();
    this.arm(timeout - quiet);
  }
}
