import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ServiceEvents } from './events.ts';

/** Bytes read from the deploy log at a time. */
const CHUNK = 64 * 1024;
/** While a follower's connection holds more than this, the deploy log waits (the file is the buffer). */
const MAX_BACKLOG = 1024 * 1024;
const BACKLOG_POLL_MS = 50;

/** Where a followed deploy log goes. */
export interface DeployLogReader {
  write: (text: string) => void;
  /** bytes written that the client has not taken yet */
  backlog?: () => number;
  /** the deploy ended: everything it wrote has been written to the reader */
  end: (result: { release: string; ok: boolean; error?: string }) => void;
}

/**
 * `logs --deploy -f`: the deploy log of a deploy running now, from its start and then as it is
 * written, to the reader until that deploy ends. Which deploy runs on which branch comes from
 * the deploy events; the text comes from the log file, so a follower sees what the pusher sees
 * (output dropped for a slow pusher included) without the deploy waiting for anyone.
 */
export class DeployLogFollow {
  /** `repo\0branch` → the release deploying now */
  private readonly running = new Map<string, string>();

  constructor(
    private readonly logDir: (repo: string, branch: string) => string,
    private readonly events: ServiceEvents,
  ) {
    events.on(
      (e) => {
        if (e.type === 'deploy-started') this.running.set(`${e.repo}\0${e.branch}`, e.release);
        if (e.type === 'deploy-finished') this.running.delete(`${e.repo}\0${e.branch}`);
      },
      ['deploy-started', 'deploy-finished'],
    );
  }

  /**
   * Follows the branch's deploy in progress (only if it is `release`, when given); null when none
   * is. Returns the function that stops following early (the client left).
   */
  follow(repo: string, branch: string, release: string | undefined, reader: DeployLogReader): (() => void) | null {
    const id = this.running.get(`${repo}\0${branch}`);
    if (id === undefined || (release !== undefined && release !== id)) return null;
    const file = path.join(this.logDir(repo, branch), `deploy-${id}.log`);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      // The deploy opens its log in the same step that announces it; a log that cannot be read is not followed.
      return null;
    }
    const tail = new FileTail(fd, reader);
    let watcher: fs.FSWatcher | null = null;
    try {
      watcher = fs.watch(file, () => tail.wake());
    } catch {
      /* the deploy's step events still wake the tail */
    }
    const offEvents = this.events.on(
      (e) => {
        if (!('release' in e) || e.repo !== repo || e.branch !== branch || e.release !== id) return;
        if (e.type === 'deploy-finished') tail.finish({ release: id, ok: e.ok, ...(e.error === undefined ? {} : { error: e.error }) });
        else tail.wake();
      },
      ['deploy-step', 'deploy-finished'],
    );
    const stop = () => {
      offEvents();
      watcher?.close();
      tail.stop();
    };
    tail.done.then(stop, (err: Error) => {
      stop();
      reader.end({ release: id, ok: false, error: `cannot read the deploy log: ${err.message}` });
    });
    return stop;
  }
}

/** Reads a growing file to its reader, pausing while the reader's connection is behind. */
class FileTail {
  private offset = 0;
  private readonly decoder = new StringDecoder('utf8');
  private readonly buf = Buffer.alloc(CHUNK);
  private result: { release: string; ok: boolean; error?: string } | null = null;
  private stopped = false;
  private woken = false;
  private waiter: (() => void) | null = null;
  readonly done: Promise<void>;

  constructor(
    private readonly fd: number,
    private readonly reader: DeployLogReader,
  ) {
    this.done = this.run();
  }

  wake(): void {
    this.woken = true;
    this.waiter?.();
  }

  /** The deploy ended; its last lines (written before the event, or just after by its report's close) are still read. */
  finish(result: { release: string; ok: boolean; error?: string }): void {
    setImmediate(() => {
      this.result = result;
      this.wake();
    });
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped) {
        if ((this.reader.backlog?.() ?? 0) > MAX_BACKLOG) {
          await new Promise((r) => setTimeout(r, BACKLOG_POLL_MS));
          continue;
        }
        // Checked before reading: every byte written before the deploy ended is read after this.
        const finished = this.result;
        this.woken = false;
        const n = fs.readSync(this.fd, this.buf, 0, CHUNK, this.offset);
        if (n > 0) {
          this.offset += n;
          this.reader.write(this.decoder.write(this.buf.subarray(0, n)));
          continue;
        }
        if (finished) {
          const rest = this.decoder.end();
          if (rest) this.reader.write(rest);
          this.reader.end(finished);
          return;
        }
        if (!this.woken) await new Promise<void>((r) => (this.waiter = r));
        this.waiter = null;
      }
    } finally {
      fs.closeSync(this.fd);
    }
  }
}
