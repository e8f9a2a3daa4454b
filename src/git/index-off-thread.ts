import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { SpecialBlob } from './fsck.ts';
import { runIndexJob } from './index-job.ts';
import type { FromWorker, ToWorker, WorkerJob } from './index-messages.ts';
import { PackError, type IndexPackResult, type PackSource } from './pack-indexer.ts';

/** What the indexer's checks found in a pushed pack (see PackObjectCheck). */
export interface PackCheckSummary {
  doubt: string | null;
  warnings: Map<string, number>;
  special: SpecialBlob[];
}

export interface PushedPack extends IndexPackResult {
  check: PackCheckSummary;
  /** indexed on a worker thread */
  offThread: boolean;
}

const WORKER = workerEntry();

/** The worker's module, a sibling of this one: JavaScript once compiled, TypeScript under tsx (the unit tests). */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./index-worker.js', import.meta.url);
  // Node 20 does not hand tsx's loader (`--import tsx`) to workers: the worker registers it first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./index-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

type Progress = (phase: 'indexing' | 'resolving', done: number, total: number) => void;

/**
 * Packs of more objects than this are indexed on a worker thread. Starting one (a fresh V8
 * isolate loading the git modules) takes 50-250 ms, more than a small push holds the event loop.
 */
export const OFF_THREAD_ABOVE = 5_000;

/**
 * Indexes and checks a pushed pack while `source` writes it to `job.packPath`: a big one on a
 * worker thread, so the event loop stays with every other session. Rejects with a PackError for
 * the pusher, or with what `source` threw (the channel failed, the pack crossed its size bound).
 */
export async function indexPushedPack(job: WorkerJob, source: PackSource, onProgress: Progress, offThreadAbove = OFF_THREAD_ABOVE): Promise<PushedPack> {
  if ((await headerCount(job.packPath, source)) <= offThreadAbove) {
    const { result, check } = await runIndexJob(job, source, onProgress);
    return { ...result, check, offThread: false };
  }
  return indexOnWorker(job, source, onProgress);
}

/** The object count of the pack's header, once it has arrived (0 when it does not: the indexer then says why). */
async function headerCount(packPath: string, source: PackSource): Promise<number> {
  if ((await source.need(12)) < 12) return 0;
  const head = Buffer.alloc(12);
  const fd = openSync(packPath, 'r');
  try {
    readSync(fd, head, 0, 12, 0);
  } finally {
    closeSync(fd);
  }
  return head.readUInt32BE(8);
}

/**
 * The main thread reads the channel into the file as fast as the pusher sends, telling the worker
 * how far the file goes; the worker always ends by itself, closing what it opened.
 */
function indexOnWorker(job: WorkerJob, source: PackSource, onProgress: Progress): Promise<PushedPack> {
  // A small young generation: the indexer makes a short-lived buffer per object, and a big nursery of them is most of its RSS.
  const worker = new Worker(WORKER, { workerData: job, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
  let outcome: (() => void) | null = null;
  let sourceError: unknown = null;
  const tell = (m: ToWorker) => worker.postMessage(m);
  const pump = async () => {
    let avail = 0;
    try {
      // At least once: the whole pack may have arrived, input ended, before the worker started.
      do {
        avail = await source.need(avail + 1);
        tell({ avail, ended: source.ended });
      } while (!outcome && !source.ended);
    } catch (err) {
      // The pack cannot go on: the worker sees its end, gives up and cleans up.
      sourceError = err;
      tell({ avail, ended: true });
    }
  };
  return new Promise<PushedPack>((resolve, reject) => {
    const settle = (f: () => void) => (outcome ??= f);
    worker.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'progress':
          onProgress(m.phase, m.done, m.total);
          break;
        case 'done': {
          const ids = m.result.sortedOids as Uint8Array;
          const result = { ...m.result, sortedOids: Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength) };
          settle(() => resolve({ ...result, check: { doubt: m.check.doubt, warnings: new Map(m.check.warnings), special: m.check.special }, offThread: true }));
          break;
        }
        case 'refused':
          settle(() => reject(new PackError(m.message)));
          break;
        case 'failed':
          settle(() => reject(new Error(`pack indexing failed on its worker thread: ${m.message}`)));
          break;
      }
    });
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => {
      if (sourceError) return reject(sourceError);
      (outcome ?? (() => reject(new Error(`pack indexing worker exited with code ${code} and no result`))))();
    });
    void pump();
  });
}
