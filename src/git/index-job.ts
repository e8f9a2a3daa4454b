import type { WorkerJob } from './index-messages.ts';
import { ObjectStore } from './object-store.ts';
import { PackObjectCheck } from './pack-check.ts';
import { indexPack, type IndexPackResult, type PackSource } from './pack-indexer.ts';

/** Indexes and checks one pushed pack as it arrives; the same on the event loop and on a worker thread. */
export async function runIndexJob(
  job: WorkerJob,
  source: PackSource,
  onProgress: (phase: 'indexing' | 'resolving', done: number, total: number) => void,
): Promise<{ result: IndexPackResult; check: PackObjectCheck }> {
  const store = new ObjectStore(job.storeDirs);
  const check = new PackObjectCheck(job.limits);
  try {
    const result = await indexPack(job.packPath, { store, destDir: job.destDir, source, limits: job.limits, check, onProgress });
    return { result, check };
  } finally {
    store.close();
  }
}
