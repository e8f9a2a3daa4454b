/** Reading a pack file that may still be arriving: sequential views, cached blocks, streamed inflates. */
import { readSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { createInflate } from 'node:zlib';
import { PackError } from './pack-error.ts';

/** Sequential reads of the arriving pack: a few syscalls per MiB, little memory held. */
const READ_CHUNK = 1 << 20;
export const STREAM_CHUNK = 1 << 20;

/** Sequential reads through a reusable buffer; views are valid until the next call. */
export class PackReader {
  private readonly standard = Buffer.allocUnsafe(READ_CHUNK);
  private buf = this.standard;
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly fd: number,
    /** bytes of the file that may be read (grows while the pack arrives) */
    public limit: number,
  ) {}

  view(pos: number, len: number): Buffer {
    const end = Math.min(pos + len, this.limit);
    if (pos >= this.bufStart && end <= this.bufStart + this.bufLen) {
      return this.buf.subarray(pos - this.bufStart, end - this.bufStart);
    }
    // Huge objects get a one-off buffer so the standard one stays small.
    this.buf = end - pos > this.standard.length ? Buffer.allocUnsafe(end - pos) : this.standard;
    this.bufStart = pos;
    this.bufLen = readFully(this.fd, this.buf.subarray(0, Math.min(this.buf.length, this.limit - pos)), pos);
    return this.buf.subarray(0, end - pos);
  }
}

/**
 * Reads a file's ranges through a few blocks kept from earlier reads: the deltas of one base,
 * resolved one after the other, mostly sit near each other in the pack.
 */
export class BlockCache {
  private static readonly BLOCK = 256 << 10;
  private static readonly SLOTS = 8;
  private readonly slots: Array<{ start: number; len: number; buf: Buffer }> = [];
  private big = Buffer.alloc(0);

  constructor(private readonly fd: number) {}

  /** Drops the cached blocks (the cache still works, reading afresh). */
  release(): void {
    this.slots.length = 0;
    this.big = Buffer.alloc(0);
  }

  /** The bytes [pos, pos+len), valid until the next call. */
  view(pos: number, len: number): Buffer {
    for (let k = 0; k < this.slots.length; k++) {
      const s = this.slots[k]!;
      if (pos >= s.start && pos + len <= s.start + s.len) {
        if (k > 0) this.slots.unshift(...this.slots.splice(k, 1)); // most recent first
        return s.buf.subarray(pos - s.start, pos - s.start + len);
      }
    }
    if (len > BlockCache.BLOCK) {
      // A large entry is read on its own, into a buffer kept for the next one.
      if (this.big.length < len) this.big = Buffer.allocUnsafe(len);
      readFully(this.fd, this.big.subarray(0, len), pos);
      return this.big.subarray(0, len);
    }
    const slot = this.slots.length < BlockCache.SLOTS ? { start: 0, len: 0, buf: Buffer.allocUnsafe(BlockCache.BLOCK) } : this.slots.pop()!;
    slot.start = pos;
    slot.len = readFully(this.fd, slot.buf, pos);
    this.slots.unshift(slot);
    return slot.buf.subarray(0, Math.min(len, slot.len));
  }
}

/**
 * Inflates the zlib stream at `start` a chunk at a time, handing the output to `onData`.
 * Returns the stream's compressed length, or null if the file ends before it does.
 */
export async function inflateStreaming(
  fd: number,
  start: number,
  need: (end: number) => Promise<number>,
  size: number,
  entryOffset: number,
  onData: (chunk: Buffer) => void,
): Promise<number | null> {
  const inflate = createInflate({ chunkSize: STREAM_CHUNK });
  let produced = 0;
  let finished = false;
  let failure: NodeJS.ErrnoException | undefined;
  inflate.on('data', (chunk: Buffer) => {
    produced += chunk.length;
    if (produced <= size) onData(chunk);
    else inflate.destroy(new PackError(`pack entry at offset ${entryOffset} inflates to more than its declared ${size} bytes`));
  });
  const settled = new Promise<void>((resolve) => {
    inflate.once('end', resolve);
    inflate.once('error', (err) => {
      failure = err;
      resolve();
    });
  }).then(() => void (finished = true));
  // zlib ends the stream by itself when input goes past the end of the zlib data.
  for (let p = start; !finished; ) {
    // The stream may end inside what was fed already: then no more input is needed (or coming).
    const limit = await Promise.race([need(p + 1), settled.then(() => -1)]);
    if (finished) break;
    if (limit <= p) break; // input ended
    const chunk = Buffer.allocUnsafe(Math.min(STREAM_CHUNK, limit - p));
    readFully(fd, chunk, p);
    p += chunk.length;
    await Promise.race([new Promise<void>((resolve) => inflate.write(chunk, () => resolve())), settled]);
    await yieldToLoop();
  }
  if (!finished) inflate.end();
  await settled;
  if (failure?.code === 'Z_BUF_ERROR') return null;
  if (failure instanceof PackError) throw failure;
  if (failure) throw new PackError(`pack entry at offset ${entryOffset} has corrupt zlib data (${failure.message})`);
  if (produced !== size) throw new PackError(`pack entry at offset ${entryOffset} inflates to ${produced} bytes, header says ${size}`);
  return inflate.bytesWritten;
}

export function readFully(fd: number, buf: Buffer, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
