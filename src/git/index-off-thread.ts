import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { SpecialBlob } from './fsck.ts';
import { runIndexJob } from './index-job.ts';
import { EnumerateError } from './enumerate.ts';
import type { FromWorker, ToWorker, WalkJob, WorkerJob } from './index-messages.ts';
import { PackError, type IndexPackResult, type PackSource } from './pack-indexer.ts';

/** What the indexer's checks found in a pushed pack (see PackObjectCheck). */
export interface PackCheckSummary {
  doubt: string | null;
  warnings: Map<string, number>;
  special: SpecialBlob[];
}

export interface PushedPack extends IndexPackResult {
  check: PackCheckSummary;
  /** indexed on the indexing thread */
  offThread: boolean;
}

type Progress = (phase: 'indexing' | 'resolving', done: number, total: number) => void;

/**
 * Packs of more objects than this are indexed on the indexing thread; smaller ones on the event
 * loop, where they hold it for less than handing them over costs.
 */
export const OFF_THREAD_ABOVE = 5_000;

/**
 * Indexes and checks a pushed pack while `source` writes it to `job.packPath`: a big one on the
 * indexing thread, so the event loop stays with every other session. Rejects with a PackError
 * for the pusher, or with what `source` threw (the channel failed, the pack crossed its size bound).
 */
export async function indexPushedPack(job: WorkerJob, source: PackSource, onProgress: Progress, offThreadAbove = OFF_THREAD_ABOVE): Promise<PushedPack> {
  if ((await headerCount(job.packPath, source)) <= offThreadAbove) {
    const { result, check } = await runIndexJob(job, source, onProgress);
    return { ...result, check, offThread: false };
  }
  return indexThread().index(job, source, onProgress);
}

/** A share of a fetch's tree walk on the indexing thread (see TreeWalker in enumerate.ts). */
export function walkTreesOffThread(job: WalkJob): Promise<Uint8Array> {
  return indexThread().walk(job);
}

/**
 * Starts the indexing thread ahead of the first big push (the gateway does at start): a fresh V8
 * isolate loading the git modules takes 50-250 ms and about 12 MiB, paid once, not per push.
 */
export function startIndexThread(): void {
  indexThread();
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

let thread: IndexThread | null = null;

function indexThread(): IndexThread {
  // 'error' and 'exit' both end a thread: only the current one is forgotten.
  thread ??= new IndexThread((ended) => {
    if (thread === ended) thread = null;
  });
  return thread;
}

type Outcome = Exclude<FromWorker, { t: 'progress' }>;

/** A job's ends: each settles it once (a later one is ignored). */
interface Job {
  onProgress?: Progress;
  /** the thread's last word on the job */
  outcome: (m: Outcome) => void;
  reject: (err: unknown) => void;
}

/**
 * One worker thread for the gateway's life, indexing every big push (overlapping pushes run as
 * jobs side by side) and sharing big fetches' tree walks. If it dies, the jobs it had fail (a
 * walk's fetch walks its share itself) and the next job starts a new one.
 */
class IndexThread {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  constructor(onExit: (ended: IndexThread) => void) {
    // A small young generation: the indexer makes a short-lived buffer per object, and a big nursery of them is most of its RSS.
    this.worker = new Worker(workerEntry(), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.worker.on('message', (m: FromWorker) => this.heard(m));
    const fail = (err: Error) => {
      onExit(this);
      for (const job of this.jobs.values()) job.reject(err);
      this.jobs.clear();
    };
    this.worker.once('error', fail);
    this.worker.once('exit', (code) => fail(new Error(`the pack indexing thread exited with code ${code}`)));
    // An idle indexing thread does not keep the gateway (or a test) running; after the listeners, which would ref it again.
    this.worker.unref();
  }

  /** Held while a job runs (the process must wait for it), let go once none does. */
  private track(id: number, job: Job): void {
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(id, job);
  }

  private untrack(id: number): void {
    if (this.jobs.delete(id) && this.jobs.size === 0) this.worker.unref();
  }

  /** The main thread reads the channel into the file as fast as the pusher sends, telling the thread how far the file goes. */
  index(job: WorkerJob, source: PackSource, onProgress: Progress): Promise<PushedPack> {
    const id = this.nextId++;
    const tell = (m: ToWorker) => this.worker.postMessage(m);
    return new Promise<PushedPack>((resolve, reject) => {
      let settled = false;
      let sourceError: unknown = null;
      // A failed channel is the reason to give: the job only saw the pack end (set before it is told).
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        if (sourceError) reject(sourceError);
        else f();
      };
      const outcome = (m: Outcome) => {
        if (m.t === 'done') settle(() => resolve({ ...m.result, check: { doubt: m.check.doubt, warnings: new Map(m.check.warnings), special: m.check.special }, offThread: true }));
        else if (m.t === 'refused') settle(() => reject(new PackError(m.message)));
        else settle(() => reject(new Error(`pack indexing failed on its thread: ${m.t === 'failed' ? m.message : m.t}`)));
      };
      this.track(id, { onProgress, outcome, reject: (err) => settle(() => reject(err)) });
      tell({ t: 'job', id, job });
      void (async () => {
        let avail = 0;
        try {
          // At least once: the whole pack may have arrived, input ended, before the job started.
          do {
            avail = await source.need(avail + 1);
            tell({ t: 'avail', id, avail, ended: source.ended });
          } while (!settled && !source.ended);
        } catch (err) {
          // The pack cannot go on: the job sees its end, gives up and cleans up.
          sourceError = err;
          tell({ t: 'avail', id, avail, ended: true });
        }
      })();
    });
  }

  /** Part of a fetch's tree walk (see TreeWalker in enumerate.ts). */
  walk(job: WalkJob): Promise<Uint8Array> {
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      const outcome = (m: Outcome) => {
        if (m.t === 'walked') resolve(m.ids);
        else if (m.t === 'refused') reject(new EnumerateError(m.message));
        else reject(new Error(`tree walk failed on its thread: ${m.t === 'failed' ? m.message : m.t}`));
      };
      this.track(id, { outcome, reject });
      this.worker.postMessage({ t: 'walk', id, walk: job } satisfies ToWorker);
    });
  }

  private heard(m: FromWorker): void {
    const job = this.jobs.get(m.id);
    if (!job) return;
    if (m.t === 'progress') return job.onProgress?.(m.phase, m.done, m.total);
    this.untrack(m.id);
    job.outcome(m);
  }
}

/** The worker's module, a sibling of this one: JavaScript once compiled, TypeScript under tsx (the unit tests). */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./index-worker.js', import.meta.url);
  // Node 20 does not hand tsx's loader (`--import tsx`) to workers: the worker registers it first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./index-worker.ts', import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}
