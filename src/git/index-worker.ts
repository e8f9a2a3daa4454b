/**
 * A worker thread that indexes one pushed pack (see index-off-thread.ts): inflating, hashing,
 * resolving deltas and checking every object of a big push here leaves the gateway's event loop
 * to every other session. It reads the pack file the main thread writes as the pack arrives;
 * the main thread says how far the file goes after every write.
 */
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { runIndexJob } from './index-job.ts';
import type { FromWorker, ToWorker, WorkerJob } from './index-messages.ts';
import { PackError, type PackSource } from './pack-indexer.ts';

const WORKER_NICE = 10;
const job = workerData as WorkerJob;
// On Linux a thread has its own nice value (setpriority on pid 0 is the calling thread): when
// cores are scarce, other sessions' work goes first and the indexing takes what is left.
os.setPriority(WORKER_NICE);
const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

/** The pack file as far as the main thread has written it: it says so after every write. */
class ArrivingPack implements PackSource {
  ended = false;
  private known = 0;
  private waiting: (() => void) | null = null;

  constructor() {
    port.on('message', (m: ToWorker) => {
      this.known = m.avail;
      this.ended = m.ended;
      const wake = this.waiting;
      this.waiting = null;
      wake?.();
    });
  }

  async need(end: number): Promise<number> {
    while (this.known < end && !this.ended) await new Promise<void>((resolve) => (this.waiting = resolve));
    return this.known;
  }
}

async function main(): Promise<void> {
  try {
    const { result, check } = await runIndexJob(job, new ArrivingPack(), (phase, done, total) => post({ t: 'progress', phase, done, total }));
    const ids = result.sortedOids;
    // The ids go over as their own buffer (moved, not copied).
    const sortedOids = ids.byteOffset === 0 && ids.byteLength === ids.buffer.byteLength ? ids : Buffer.from(ids);
    post(
      {
        t: 'done',
        result: { ...result, sortedOids },
        check: { doubt: check.doubt, warnings: [...check.warnings], special: check.special },
      },
      [sortedOids.buffer as ArrayBuffer],
    );
  } catch (err) {
    if (err instanceof PackError) post({ t: 'refused', message: err.message });
    else post({ t: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  } finally {
    port.close();
  }
}

void main();
