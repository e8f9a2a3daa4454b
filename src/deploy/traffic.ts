import type { BranchConfig, Config } from '../config/types.ts';
import { isUserError } from '../lib/errors.ts';
import type { DeployerOptions } from './context.ts';
import { DeployFailure } from './failure.ts';

/** The switch itself; nginx refusing it is the deploy's failure, named as nginx's. */
export async function switchTraffic(opts: DeployerOptions, repo: string, branch: string): Promise<string[]> {
  try {
    return await opts.switchTraffic(repo, branch);
  } catch (err) {
    if (isUserError(err)) throw new DeployFailure(`switch: ${err.message}`);
    throw err;
  }
}

/** How long old processes keep serving after traffic moved to the new ones. */
export function drainSeconds(config: Config, branch: BranchConfig): number {
  return branch.drainSeconds ?? config.global.drainSeconds;
}
