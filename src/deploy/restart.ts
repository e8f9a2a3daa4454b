import type { BranchConfig } from '../config/types.ts';
import { allocatePorts } from '../runners/ports.ts';
import type { ProcessSpec } from '../runners/supervisor.ts';
import { sleep, STOP_GRACE_MS, type DeployerOptions } from './context.ts';
import { startHealthy, waitRunning } from './health-wait.ts';
import { drainSeconds, switchTraffic } from './traffic.ts';

/**
 * Restarts a release's processes on their own ports. When a domain serves the branch, each
 * backend process first gets a stand-in on a fresh port: stand-ins healthy → nginx sends
 * traffic to them → drain → the originals restart → healthy → traffic back → drain → the
 * stand-ins stop. Without a domain (nothing routes to them), processes restart one by one.
 * `outOfRotation` holds the processes nginx must not send traffic to meanwhile.
 */
export async function restartProcesses(
  opts: DeployerOptions,
  outOfRotation: Set<string>,
  repo: string,
  branchName: string,
  branch: BranchConfig,
  specs: ProcessSpec[],
): Promise<void> {
  const { supervisor } = opts;
  const backends = specs.filter((s) => s.port !== undefined);
  const routed = backends.length > 0 && (await switchTraffic(opts, repo, branchName)).length > 0;
  if (!routed) {
    for (const s of specs) {
      await supervisor.stop(s.id);
      await supervisor.start(s);
    }
    return;
  }
  const drainMs = drainSeconds(opts.config(), branch) * 1000;
  const used = new Set(supervisor.list().flatMap((p) => (p.port === undefined ? [] : [p.port])));
  const fresh = await allocatePorts(backends.length, opts.config().global.ports, used);
  const standIns = backends.map((s, i): ProcessSpec => ({
    ...s,
    id: `${s.id}~stand-in`,
    port: fresh[i]!,
    env: { ...s.env, PORT: String(fresh[i]) },
    logFile: s.logFile.replace(/\.log$/, '.stand-in.log'),
  }));
  try {
    await startHealthy(supervisor, branch, standIns);
    for (const s of backends) outOfRotation.add(s.id);
    await switchTraffic(opts, repo, branchName);
    await sleep(drainMs);
    for (const s of specs) {
      await supervisor.stop(s.id);
      await supervisor.start(s);
    }
    await waitRunning(supervisor, branch, backends);
  } finally {
    // Whatever happened, the originals take the traffic back before the stand-ins go.
    for (const s of backends) outOfRotation.delete(s.id);
    for (const s of standIns) outOfRotation.add(s.id);
    try {
      await switchTraffic(opts, repo, branchName);
      await sleep(drainMs);
    } finally {
      await Promise.all(standIns.map((s) => supervisor.stop(s.id, STOP_GRACE_MS)));
      for (const s of standIns) outOfRotation.delete(s.id);
    }
  }
}
