import type { Readable, Writable } from 'node:stream';
import { ClientGoneError } from '../lib/errors.ts';
import { DELIM, encodePkt, encodeSideband, FLUSH, PktLineError, PktReader, type Pkt } from './pktline.ts';

const HIGH_WATER = 4 * 1024 * 1024;

/** Pull-style reading of a push/fetch channel, with backpressure on the SSH window. */
export class StreamReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  readonly pkts = new PktReader();

  constructor(private readonly stream: Readable) {
    stream.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.size += c.length;
      if (this.size > HIGH_WATER) stream.pause();
      this.notify();
    });
    stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('close', () => {
      this.ended = true;
      this.notify();
    });
    stream.on('error', (e: Error) => {
      this.failure = e;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** The next chunk, or null at end of input. */
  async read(): Promise<Buffer | null> {
    for (;;) {
      const c = this.chunks.shift();
      if (c) {
        this.size -= c.length;
        if (this.size <= HIGH_WATER / 2 && this.stream.isPaused()) this.stream.resume();
        return c;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return null;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** The next pkt-line; a cut-off stream is a protocol error. */
  async readPkt(): Promise<Pkt> {
    for (;;) {
      const p = this.pkts.take();
      if (p) return p;
      const c = await this.read();
      if (!c) throw new PktLineError(this.pkts.buffered ? 'connection closed in the middle of a pkt-line' : 'connection closed before the request was complete');
      this.pkts.push(c);
    }
  }

  /** Bytes already read past the last pkt-line, e.g. the start of a pack. */
  takeRest(): Buffer {
    return this.pkts.rest();
  }
}

/** Writes to the client with backpressure, in plain pkt-lines or side-band packets. */
export class ChannelWriter {
  sideband = false;
  private closed = false;

  constructor(
    private readonly out: Writable,
    private readonly errOut: Writable | null,
  ) {
    out.once('close', () => (this.closed = true));
  }

  /** The client closed the channel: nothing written now reaches it. */
  get gone(): boolean {
    return this.closed || this.out.destroyed || this.out.writableEnded;
  }

  async raw(buf: Buffer): Promise<void> {
    if (this.out.destroyed || this.out.writableEnded) throw new ClientGoneError();
    if (!this.out.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          this.out.off('drain', done);
          this.out.off('close', gone);
          resolve();
        };
        const gone = () => {
          this.out.off('drain', done);
          reject(new ClientGoneError());
        };
        this.out.once('drain', done);
        this.out.once('close', gone);
      });
    }
  }

  async pkt(line: string | Buffer): Promise<void> {
    await this.raw(encodePkt(line));
  }

  async flush(): Promise<void> {
    await this.raw(FLUSH);
  }

  /** The delimiter packet (0001) between sections of a protocol v2 response. */
  async delim(): Promise<void> {
    await this.raw(DELIM);
  }

  /** Data on band 1 when side-band is on, else raw. */
  async data(buf: Buffer): Promise<void> {
    if (!this.sideband) return this.raw(buf);
    for (const p of encodeSideband(1, buf)) await this.raw(p);
  }

  /** Progress text for the user's terminal (git prints it as `remote: …`). Never throws. */
  progress(text: string): void {
    this.band(2, text);
  }

  /** A fatal message for the user's terminal. */
  error(text: string): void {
    this.band(3, text.endsWith('\n') ? text : text + '\n');
  }

  private band(b: 2 | 3, text: string): void {
    try {
      if (this.out.destroyed || this.out.writableEnded) return;
      if (this.sideband) for (const p of encodeSideband(b, Buffer.from(text))) this.out.write(p);
      else this.errOut?.write(text);
    } catch {
      /* the client is gone; nothing to tell */
    }
  }
}
