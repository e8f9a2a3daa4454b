import path from 'node:path';
import { runningGateway } from '../lib/data-lock.ts';
import { logger } from '../lib/log.ts';
import { count } from '../lib/plural.ts';
import { isSameProcess, liveGroupMembers, signalGroup, waitUntil } from '../runners/proc-stat.ts';
import { loadState, saveState } from '../runners/process-state.ts';
import { managedMaster } from '../nginx/master.ts';

const GRACE_MS = 10_000;

/**
 * `slipway stop`: ends the gateway of a data dir and every app it supervises (apps outlive the
 * gateway on purpose, so stopping the gateway alone leaves them running). The next `serve`
 * starts the current releases again.
 */
export async function stopEverything(dataDir: string, out: (line: string) => void): Promise<void> {
  const gateway = runningGateway(dataDir);
  if (gateway !== null) {
    process.kill(gateway, 'SIGTERM');
    const gone = await waitUntil(() => runningGateway(dataDir) === null, GRACE_MS, 50);
    out(gone ? `stopped the gateway (pid ${gateway})` : `the gateway (pid ${gateway}) did not stop; kill it and run this again`);
    if (!gone) return;
  }
  const file = path.join(dataDir, 'state', 'processes.json');
  const state = loadState(file, logger('stop'));
  const live = (state?.processes ?? []).filter((p) => p.pid !== null && p.startTicks !== null && isSameProcess(p.pid, p.startTicks));
  for (const p of live) signalGroup(p.pid!, 'SIGTERM');
  const allGone = () => live.every((p) => liveGroupMembers(p.pid!).length === 0);
  if (!(await waitUntil(allGone, GRACE_MS, 50))) for (const p of live) signalGroup(p.pid!, 'SIGKILL');
  await waitUntil(allGone, 2_000, 50);
  if (state) saveState(file, { bootId: state.bootId, processes: [] });
  out(`stopped ${count(live.length, 'app process', 'app processes')}`);
  const nginx = managedMaster(dataDir);
  if (nginx && (await nginx.stop(GRACE_MS))) out('stopped the managed nginx');
}
