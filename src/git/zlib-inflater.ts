/**
 * Inflates whole zlib streams on one zlib handle kept per thread. node's `inflateSync` builds and
 * tears down a stream object for every call, which is half the cost of inflating a pack's many
 * small entries (181,312 entries of the long history: 0.90-1.12 s with `inflateSync`, 0.44 s on a
 * kept handle). node offers no public way to reuse a handle synchronously, so this drives the
 * handle its own `inflateSync` drives (`writeSync`, `reset`, the `_writeState` counters) and uses
 * `inflateSync` itself where a node lacks them. Calls are synchronous, so one handle per thread
 * is never shared by two streams at once.
 */
import { kMaxLength } from 'node:buffer';
import { constants, createInflate, inflateSync } from 'node:zlib';

export type InflateResult =
  | { data: Buffer; consumed: number }
  /** the input ended before the stream did */
  | 'truncated'
  /** the stream inflates to more than the limit */
  | 'too-large'
  /** corrupt data: zlib's message */
  | { corrupt: string };

interface RawHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number, code: string) => void;
}

interface KeptHandle {
  handle: RawHandle;
  /** [output bytes left, input bytes left] after each write */
  state: Uint32Array;
  /** set by the handle's error callback during a write */
  failure: { message: string; code: string } | null;
}

function keepHandle(): KeptHandle | null {
  const engine = createInflate() as unknown as { _handle?: Partial<RawHandle>; _writeState?: unknown };
  const handle = engine._handle;
  const state = engine._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array)) return null;
  const kept: KeptHandle = { handle: handle as RawHandle, state, failure: null };
  // node's own callback destroys the stream on the first error; ours records it, and reset()
  // before the next stream makes the handle usable again.
  kept.handle.onerror = (message, _errno, code) => {
    kept.failure = { message, code };
  };
  return kept;
}

let kept: KeptHandle | null | undefined;

/** Above this the output is grown as data arrives, so that a lying size header costs nothing. */
const PREALLOCATE_MAX = 16 << 20;

/**
 * Inflates the zlib stream at the start of `input` (which may hold trailing bytes) into at most
 * `limit` bytes.
 */
export function inflateWhole(input: Uint8Array, limit: number): InflateResult {
  if (kept === undefined) kept = keepHandle();
  return kept && limit <= PREALLOCATE_MAX ? inflateKept(kept, input, limit) : inflateFresh(input, limit);
}

function inflateKept(k: KeptHandle, input: Uint8Array, limit: number): InflateResult {
  // One byte of room past the limit tells a stream that is too large from one that fits exactly.
  const out = Buffer.allocUnsafe(limit + 1);
  k.failure = null;
  k.handle.reset();
  k.handle.writeSync(constants.Z_FINISH, input, 0, input.length, out, 0, out.length);
  const failure = k.failure as KeptHandle['failure'];
  if (failure) return failure.code === 'Z_BUF_ERROR' ? 'truncated' : { corrupt: failure.message };
  const outLeft = k.state[0]!;
  if (outLeft === 0) return 'too-large';
  return { data: out.subarray(0, out.length - outLeft), consumed: input.length - k.state[1]! };
}

function inflateFresh(input: Uint8Array, limit: number): InflateResult {
  try {
    const options = { info: true as const, maxOutputLength: Math.min(Math.max(1, limit), kMaxLength), chunkSize: Math.min(Math.max(64, limit + 1), 16 << 20) };
    const r = inflateSync(input, options) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    return { data: r.buffer, consumed: r.engine.bytesWritten };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') return 'truncated';
    if (code === 'ERR_BUFFER_TOO_LARGE') return 'too-large';
    return { corrupt: (err as Error).message };
  }
}
