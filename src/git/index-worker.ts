/**
 * The gateway's pack-indexing thread (see index-off-thread.ts): inflating, hashing, resolving
 * deltas and checking every object of a big push here leaves the event loop to every other
 * session. It runs as long as the gateway, one job per big push (several at once if pushes
 * overlap), each reading the pack file the main thread writes as the pack arrives; the main
 * thread says how far the file goes after every write. It also takes a share of a big fetch's
 * tree walk (enumerate.ts), so that both cores walk while the client waits.
 */
import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { GarbagePacer } from '../lib/garbage-pacer.ts';
import { EnumerateError, SharedChunks, walkChunks } from './enumerate.ts';
import { runIndexJob } from './index-job.ts';
import type { FromWorker, ToWorker, WalkJob, WorkerJob } from './index-messages.ts';
import { ObjectStore } from './object-store.ts';
import { GitFormatError } from './objects.ts';
import { PackError, type PackSource } from './pack-indexer.ts';

const WORKER_NICE = 10;
// On Linux a thread has its own nice value (setpriority on pid 0 is the calling thread): when
// cores are scarce, other sessions' work goes first and the indexing takes what is left.
os.setPriority(WORKER_NICE);
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const arriving = new Map<number, ArrivingPack>();

/** A job's pack file as far as the main thread has written it: it says so after every write. */
class ArrivingPack implements PackSource {
  ended = false;
  private known = 0;
  private waiting: (() => void) | null = null;

  told(avail: number, ended: boolean): void {
    this.known = avail;
    this.ended = ended;
    const wake = this.waiting;
    this.waiting = null;
    wake?.();
  }

  async need(end: number): Promise<number> {
    while (this.known < end && !this.ended) await new Promise<void>((resolve) => (this.waiting = resolve));
    return this.known;
  }
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'job') void run(m.id, m.job);
  else if (m.t === 'walk') void walk(m.id, m.walk);
  else arriving.get(m.id)?.told(m.avail, m.ended);
});

/** A walk's delta-base cache: it reads trees, most of them deltas of the tree read just before. */
const WALK_CACHE = 32 << 20;
let walking = 0;

async function walk(id: number, job: WalkJob): Promise<void> {
  walking++;
  const store = new ObjectStore(job.storeDirs, { cacheBytes: WALK_CACHE });
  let outcome: FromWorker;
  try {
    const ids = await walkChunks(store, new SharedChunks(job.trees, job.chunkSize, job.word, false), job.bounds);
    outcome = { id, t: 'walked', ids };
  } catch (err) {
    outcome = err instanceof EnumerateError || err instanceof GitFormatError ? { id, t: 'refused', message: err.message } : bug(id, err);
  } finally {
    store.close();
    walking--;
  }
  collectIfIdle();
  if (outcome.t === 'walked') port.postMessage(outcome, [outcome.ids.buffer as ArrayBuffer]); // handed over, not copied
  else post(outcome);
}

async function run(id: number, job: WorkerJob): Promise<void> {
  const pack = new ArrivingPack();
  arriving.set(id, pack);
  const outcome = await index(id, job, pack);
  arriving.delete(id);
  collectIfIdle();
  post(outcome);
}

/**
 * Between jobs the thread holds no pack's tables: they die with a full collection now, not
 * whenever the heap next fills (the thread allocates nothing meanwhile); and before the main
 * thread hears of the outcome, so that its work at the push's end does not stack on them.
 */
function collectIfIdle(): void {
  if (arriving.size === 0 && walking === 0) GarbagePacer.collectAll();
}

/** A bug: the stack, for the server log. */
function bug(id: number, err: unknown): FromWorker {
  return { id, t: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/** The job's outcome as the message that reports it: nothing of the pack's tables outlives it. */
async function index(id: number, job: WorkerJob, pack: ArrivingPack): Promise<FromWorker> {
  try {
    const { result, check } = await runIndexJob(job, pack, (phase, done, total) => post({ id, t: 'progress', phase, done, total }));
    return { id, t: 'done', result, check: { doubt: check.doubt, warnings: [...check.warnings], special: check.special } };
  } catch (err) {
    return err instanceof PackError ? { id, t: 'refused', message: err.message } : bug(id, err);
  }
}
