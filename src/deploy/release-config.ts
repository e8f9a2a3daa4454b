import crypto from 'node:crypto';
import type { BranchConfig, RunnerConfig, RunnerType } from '../config/types.ts';

/**
 * The part of a branch's config a release runs with: what its processes are started from. A
 * release is its commit *and* this, so a rollback brings back the env it ran with, and a config
 * change of a deployed branch is a new release rather than processes of one release running
 * with two different environments.
 */
export interface ReleaseConfig {
  env: Record<string, string>;
  runners: Record<string, { type: RunnerType; cmd?: string; processCount: number }>;
}

export function releaseConfigOf(branch: BranchConfig): ReleaseConfig {
  const runners: ReleaseConfig['runners'] = {};
  for (const r of Object.values(branch.runners)) runners[r.name] = { type: r.type, ...(r.cmd === undefined ? {} : { cmd: r.cmd }), processCount: r.processCount };
  return { env: { ...branch.env }, runners };
}

/** A digest of a release config: the state file says which one the branch last ran with, without repeating its env. */
export function configDigest(rc: ReleaseConfig): string {
  const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  const runners = sorted(Object.fromEntries(Object.entries(rc.runners).map(([k, v]) => [k, sorted(v)])));
  return crypto.createHash('sha256').update(JSON.stringify([sorted(rc.env), runners])).digest('hex').slice(0, 16);
}

/**
 * What changed from `a` to `b`, one short phrase each (`env GREETING changed`, `web process_count
 * 2 -> 1`). Env values are never named: they may be secrets.
 */
export function describeChanges(a: ReleaseConfig, b: ReleaseConfig): string[] {
  const out: string[] = [];
  const names = (x: Record<string, unknown>, y: Record<string, unknown>) => [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
  for (const k of names(a.env, b.env)) {
    if (!(k in b.env)) out.push(`env ${k} removed`);
    else if (!(k in a.env)) out.push(`env ${k} added`);
    else if (a.env[k] !== b.env[k]) out.push(`env ${k} changed`);
  }
  for (const name of names(a.runners, b.runners)) {
    const x = a.runners[name];
    const y = b.runners[name];
    if (!y) out.push(`runner ${name} removed`);
    else if (!x) out.push(`runner ${name} added`);
    else {
      if (x.type !== y.type) out.push(`${name} type ${x.type} -> ${y.type}`);
      if (x.cmd !== y.cmd) out.push(`${name} cmd changed`);
      if (x.processCount !== y.processCount) out.push(`${name} process_count ${x.processCount} -> ${y.processCount}`);
    }
  }
  return out;
}

/**
 * The branch config a release's processes start from: the branch's settings (health checks,
 * nginx options) with the release's own env and runners. A runner the branch no longer has
 * runs as the release recorded it.
 */
export function branchForRelease(branch: BranchConfig, rc: ReleaseConfig | undefined): BranchConfig {
  if (!rc) return branch;
  const runners: Record<string, RunnerConfig> = {};
  for (const [name, r] of Object.entries(rc.runners)) {
    const base = branch.runners[name];
    runners[name] = { ...(base && base.type === r.type ? base : {}), name, type: r.type, cmd: r.cmd, processCount: r.processCount };
  }
  return { ...branch, env: { ...rc.env }, runners };
}
