import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * V8 collects a Buffer's bytes (kept outside its heap) only when a collection finds the small
 * object holding them dead, and a loop that makes big Buffers from few JS objects fills the
 * young generation slowly: receiving a 38 MiB pack over ssh (a socket read and a decrypted
 * packet per 32 KiB) left 25-35 MiB of dead Buffers. A pacer runs a young-generation
 * collection (about a millisecond) after every `every` bytes such a loop has let go of, so
 * what it holds stays near what it uses.
 */
export class GarbagePacer {
  private since = 0;

  constructor(private readonly every = 4 << 20) {}

  /** `bytes` more of Buffers made and dropped by the loop. */
  dropped(bytes: number): void {
    this.since += bytes;
    if (this.since < this.every) return;
    this.since = 0;
    collector()({ type: 'minor' });
  }

  /** A full collection, for a thread that has just let go of a big job's tables and will idle. */
  static collectAll(): void {
    collector()({ type: 'major' });
  }
}

type Gc = (opts: { type: 'minor' | 'major' }) => void;
let gc: Gc | null = null;

/** V8's collector, exposed once per thread (the flag is read when a context is made). */
function collector(): Gc {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
  }
  return gc;
}
