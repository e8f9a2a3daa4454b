/**
 * What the gateway and its pack-indexing thread say to each other (index-off-thread.ts,
 * index-worker.ts). The thread also walks trees for a big clone's enumeration (enumerate.ts).
 */
import type { SpecialBlob } from './fsck.ts';
import type { IndexPackResult } from './pack-indexer.ts';
import type { PushLimits } from './push-limits.ts';

export interface WorkerJob {
  /** the pack file the main thread writes as the pack arrives */
  packPath: string;
  destDir: string;
  /** objects dirs that may hold thin-pack bases and the objects links name (quarantine, repo) */
  storeDirs: string[];
  limits: PushLimits;
}

/** A share of a fetch's tree walk (see SharedChunks in enumerate.ts): `word` is shared memory. */
export interface WalkJob {
  storeDirs: string[];
  trees: string[];
  chunkSize: number;
  word: Int32Array;
  bounds: string[];
}

/** A new job; then how far its pack file goes, after each write to it (and once input ended). A tree walk. */
export type ToWorker = { t: 'job'; id: number; job: WorkerJob } | { t: 'avail'; id: number; avail: number; ended: boolean } | { t: 'walk'; id: number; walk: WalkJob };

export type FromWorker = { id: number } & (
  | { t: 'progress'; phase: 'indexing' | 'resolving'; done: number; total: number }
  | { t: 'done'; result: IndexPackResult; check: { doubt: string | null; warnings: Array<[string, number]>; special: SpecialBlob[] } }
  /** a walk's objects, 20-byte ids end to end */
  | { t: 'walked'; ids: Uint8Array }
  /** the pack is unusable (or the repo lacks an object a walk needs); the message is for the client */
  | { t: 'refused'; message: string }
  /** a bug: the stack, for the server log */
  | { t: 'failed'; message: string }
);
