/** What the gateway and its pack-indexing thread say to each other (index-off-thread.ts, index-worker.ts). */
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

/** A new job; then how far its pack file goes, after each write to it (and once input ended). */
export type ToWorker = { t: 'job'; id: number; job: WorkerJob } | { t: 'avail'; id: number; avail: number; ended: boolean };

export type FromWorker = { id: number } & (
  | { t: 'progress'; phase: 'indexing' | 'resolving'; done: number; total: number }
  | { t: 'done'; result: IndexPackResult; check: { doubt: string | null; warnings: Array<[string, number]>; special: SpecialBlob[] } }
  /** the pack is unusable; the message is for the pusher */
  | { t: 'refused'; message: string }
  /** a bug: the stack, for the server log */
  | { t: 'failed'; message: string }
);
