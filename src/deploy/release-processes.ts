import type { BranchConfig } from '../config/types.ts';
import { allocatePorts } from '../runners/ports.ts';
import type { ProcessSpec } from '../runners/supervisor.ts';
import { confinement, STOP_GRACE_MS, type DeployerOptions } from './context.ts';
import { DeployFailure } from './failure.ts';
import { startHealthy } from './health-wait.ts';
import type { DeployReport } from './report.ts';
import { portCount, releaseSpecs, type ReleaseRef } from './specs.ts';

/** Starts every process of a release on fresh ports and waits until all are healthy; on failure, stops them. */
export async function startRelease(opts: DeployerOptions, branch: BranchConfig, rel: ReleaseRef, report?: DeployReport): Promise<ProcessSpec[]> {
  const { supervisor } = opts;
  const used = new Set(supervisor.list().flatMap((p) => (p.port === undefined ? [] : [p.port])));
  let ports: number[];
  try {
    ports = await allocatePorts(portCount(branch), opts.config().global.ports, used);
  } catch (err) {
    throw new DeployFailure((err as Error).message);
  }
  const confine = confinement(opts, rel.repo, rel.checkout);
  // A kept release may date from before a change of run_as.
  opts.isolator.own(confine, rel.checkout);
  const specs = releaseSpecs(opts.dataDir, branch, rel, confine, () => ports.shift()!);
  await startHealthy(supervisor, branch, specs, report);
  return specs;
}

export async function stopRelease(opts: DeployerOptions, repo: string, branch: string, which: (p: ProcessSpec) => boolean): Promise<void> {
  const { supervisor } = opts;
  const victims = supervisor.list((p) => p.repo === repo && p.branch === branch && which(p));
  await Promise.all(victims.map((p) => supervisor.stop(p.id, STOP_GRACE_MS)));
}
