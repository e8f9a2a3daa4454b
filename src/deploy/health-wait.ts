import type { BranchConfig } from '../config/types.ts';
import { waitHealthy } from '../runners/health.ts';
import { describeExit, type ProcessSpec, type Supervisor } from '../runners/supervisor.ts';
import { STOP_GRACE_MS } from './context.ts';
import { DeployFailure, lastWords, settled } from './failure.ts';
import type { DeployReport } from './report.ts';
import { processRunners } from './specs.ts';

/** A SimpleProcess has no port to probe: it counts as healthy when it is still up after this. */
const SIMPLE_PROCESS_SETTLE_MS = 1_000;
const DEFAULT_HEALTH_TIMEOUT_S = 30;
const HEALTH_PROBE_MS = 10;

/**
 * Starts `specs` and waits until every runner's processes are healthy, telling `report` what it
 * waits for; on failure, stops them and adds the last output of the culprits to the failure.
 */
export async function startHealthy(supervisor: Supervisor, branch: BranchConfig, specs: ProcessSpec[], report?: DeployReport): Promise<void> {
  /** whose log the failure shows: the process that exited, or those that never became healthy */
  let culprits: ProcessSpec[] = [];
  try {
    const spawnStart = Date.now();
    for (const s of specs) await supervisor.start(s);
    report?.record('spawn', Date.now() - spawnStart);
    const healthStart = Date.now();
    for (const r of processRunners(branch)) {
      const mine = specs.filter((s) => s.runner === r.name);
      if (mine.length === 0) continue;
      const alive = () => mine.every((s) => supervisor.isAlive(s.id));
      const exited = () => mine.filter((s) => supervisor.get(s.id)?.lastExit || !supervisor.isAlive(s.id));
      if (r.type === 'SimpleProcess') {
        await new Promise((res) => setTimeout(res, SIMPLE_PROCESS_SETTLE_MS));
        if (!alive()) {
          culprits = exited();
          throw new DeployFailure(`health: ${r.name} exited right after starting`);
        }
        continue;
      }
      const path_ = r.type === 'NginxBackend' ? r.healthcheck?.path : undefined;
      const timeoutS = r.healthcheck?.timeout ?? DEFAULT_HEALTH_TIMEOUT_S;
      const h = await waitHealthy(
        mine.map((s) => ({ port: s.port!, path: path_, name: `${s.runner}.${s.index}` })),
        {
          timeoutMs: timeoutS * 1000,
          alive,
          // Probing a loopback port is cheap; a short interval is most of push-to-live.
          intervalMs: HEALTH_PROBE_MS,
          exitDetail: () => {
            const dead = mine.map((s) => supervisor.get(s.id)).find((p) => p?.lastExit);
            return dead?.lastExit ? describeExit(dead.lastExit) : undefined;
          },
          onProgress: (pending, ms) => report?.info(`waiting for ${pending.map((p) => `${p.target.name} on :${p.target.port}`).join(', ')} (${Math.round(ms / 1000)} s)… ${pending[0]!.problem}`),
        },
      );
      if (!h.ok) {
        culprits = h.pending ? mine.filter((s) => h.pending!.some((p) => p.port === s.port)) : exited();
        throw new DeployFailure(`health: ${r.name}: ${h.reason}`);
      }
      report?.info(`${r.name}: ${mine.length} healthy on ${mine.map((s) => s.port).join(',')}`);
    }
    report?.record('health', Date.now() - healthStart);
  } catch (err) {
    await Promise.all(specs.map((s) => supervisor.stop(s.id, STOP_GRACE_MS)));
    if (err instanceof DeployFailure) {
      // A stopped process's writer is gone with its group; one that crashed may still be writing its last lines.
      await Promise.all(culprits.map((s) => settled(s.logFile)));
      err.details.push(...culprits.flatMap((s) => lastWords(s)));
    }
    throw err;
  }
}

/** Waits until restarted backends answer their health check again (they keep their ports). */
export async function waitRunning(supervisor: Supervisor, branch: BranchConfig, backends: ProcessSpec[]): Promise<void> {
  for (const r of processRunners(branch)) {
    const mine = backends.filter((s) => s.runner === r.name);
    if (mine.length === 0) continue;
    const h = await waitHealthy(
      mine.map((s) => ({ port: s.port!, path: r.type === 'NginxBackend' ? r.healthcheck?.path : undefined })),
      { timeoutMs: (r.healthcheck?.timeout ?? DEFAULT_HEALTH_TIMEOUT_S) * 1000, alive: () => mine.every((s) => supervisor.isAlive(s.id)), intervalMs: HEALTH_PROBE_MS },
    );
    if (!h.ok) throw new DeployFailure(`health: ${r.name}: ${h.reason}`);
  }
}
