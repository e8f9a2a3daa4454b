import path from 'node:path';
import type { Config } from '../config/types.ts';
import type { Logger } from '../lib/log.ts';
import type { Confinement } from '../runners/confine.ts';
import type { Isolator } from '../runners/isolation.ts';
import type { Supervisor } from '../runners/supervisor.ts';
import type { ReleaseStore } from './releases.ts';
import { DeployReport, type Pusher } from './report.ts';

/** What a deploy announces while it runs (the service publishes these). */
export type DeployEvent =
  | { type: 'deploy-started'; repo: string; branch: string; release: string; commit: string; user: string }
  | { type: 'deploy-step'; repo: string; branch: string; release: string; step: string; detail: string }
  | { type: 'deploy-finished'; repo: string; branch: string; release: string; ok: boolean; error?: string; ms: number };

/** What the deploy steps get from the gateway. */
export interface DeployerOptions {
  dataDir: string;
  config: () => Config;
  supervisor: Supervisor;
  releases: ReleaseStore;
  log: Logger;
  /** Decides the user, sandbox and limits of each repo's code. */
  isolator: Isolator;
  /**
   * Points traffic (nginx) at what now runs for a branch; resolves to the URLs that reach it
   * (none when no domain does). Throws a UserError when nginx refuses; then nothing changed.
   */
  switchTraffic: (repo: string, branch: string) => Promise<string[]>;
  onEvent: (event: DeployEvent) => void;
}

/** How code of `repo` working in `cwd` runs, under the current config. */
export function confinement(opts: DeployerOptions, repo: string, cwd: string): Confinement {
  const config = opts.config();
  return opts.isolator.confinement(config.repos[repo]!, config.global, cwd);
}

/** The report of release `release`: to `out`, its deploy log, deploy_logger_cmd, and `deploy-step` events. */
export function openReport(
  opts: DeployerOptions,
  out: Pusher,
  where: { repo: string; branch: string; release: string },
  env: Record<string, string>,
): DeployReport {
  const config = opts.config();
  return new DeployReport(
    out,
    path.join(opts.releases.logDir(where.repo, where.branch), `deploy-${where.release}.log`),
    config.global.deployLoggerCmd,
    env,
    opts.log,
    (step, detail) => opts.onEvent({ type: 'deploy-step', ...where, step, detail }),
    { maxLogBytes: config.global.logs.maxBytes },
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** How long a stopped process gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 10_000;
