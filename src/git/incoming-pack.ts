import { writeSync } from 'node:fs';
import { GarbagePacer } from '../lib/garbage-pacer.ts';
import type { StreamReader } from './io.ts';
import { PackError, type PackSource } from './pack-indexer.ts';

/**
 * A pack arriving on a push channel, written to a file as the indexer asks for its bytes. Reading
 * stops where the indexer finds the pack's end, so a client that keeps its side open while it
 * waits for report-status (dulwich, libgit2, JGit) is answered at once.
 */
export class IncomingPack implements PackSource {
  ended = false;
  private written = 0;
  /** the one read from the channel in flight: callers that race each other share it */
  private pending: Promise<void> | null = null;
  /**
   * The socket's reads and ssh2's decrypted packets behind every chunk are garbage once it is
   * written, two to three times its bytes: collected every MiB (4 MiB left 2-3 MiB more behind).
   */
  private readonly pacer = new GarbagePacer(1 << 20);

  constructor(
    private readonly fd: number,
    private readonly reader: StreamReader,
    private readonly maxBytes: number,
    private readonly limitMessage: string,
  ) {
    this.append(reader.takeRest());
  }

  get bytes(): number {
    return this.written;
  }

  async need(end: number): Promise<number> {
    while (this.written < end && !this.ended) await this.pump();
    if (this.ended && this.written === 0) throw new PackError('no pack received (the push was cut off)');
    return this.written;
  }

  private pump(): Promise<void> {
    this.pending ??= this.reader.read().then(
      (chunk) => {
        this.pending = null;
        if (!chunk) this.ended = true;
        else this.append(chunk);
      },
      (err: unknown) => {
        this.pending = null;
        throw err;
      },
    );
    return this.pending;
  }

  private append(chunk: Buffer): void {
    if (this.written + chunk.length > this.maxBytes) throw new PackError(this.limitMessage);
    for (let done = 0; done < chunk.length; ) done += writeSync(this.fd, chunk, done, chunk.length - done, this.written + done);
    this.written += chunk.length;
    this.pacer.dropped(chunk.length);
  }
}
