import fs from 'node:fs';
import path from 'node:path';
import type { BranchConfig } from '../config/types.ts';
import type { Confinement } from '../runners/confine.ts';
import { processesOfUid, readProcStat } from '../runners/proc-stat.ts';
import type { DeployerOptions } from './context.ts';
import { DeployFailure } from './failure.ts';
import { describeExit as describeHookExit, runningShells, runShell } from './hooks.ts';
import type { PendingDeploy } from './releases.ts';
import type { DeployReport } from './report.ts';

/** Where a deploy's hooks run. */
export interface HookPlace {
  repo: string;
  branch: string;
  confine: Confinement;
  timeoutMs: number;
}

/** The build step: the branch's build commands, or the commit's `.build.sh` when none are configured. */
export async function build(opts: DeployerOptions, branch: BranchConfig, checkout: string, env: Record<string, string>, report: DeployReport, where: HookPlace): Promise<void> {
  let cmds = branch.hooks.build;
  if (cmds === null) cmds = fs.existsSync(path.join(checkout, '.build.sh')) ? ['./.build.sh'] : [];
  if (cmds.length === 0) return;
  report.step('Build', cmds.length === 1 ? cmds[0] : `${cmds.length} commands`);
  for (const cmd of cmds) await hook(opts, 'build', cmd, checkout, env, report, where);
  report.done();
}

/** Runs one hook command; its process group is recorded so a start after a kill can end it. */
export async function hook(opts: DeployerOptions, kind: string, cmd: string, cwd: string, env: Record<string, string>, report: DeployReport, where: HookPlace): Promise<void> {
  const recordHook = (hook: PendingDeploy['hook']) =>
    opts.releases.update(where.repo, where.branch, (state) => {
      if (state.pending) state.pending.hook = hook;
    });
  const r = await runShell(cmd, {
    cwd,
    env,
    confine: where.confine,
    onOutput: (c) => report.output(c),
    timeoutMs: where.timeoutMs,
    onSpawn: (pgid) => {
      const stat = readProcStat(pgid);
      if (stat) recordHook({ pgid, startTicks: stat.startTicks });
    },
  });
  recordHook(null);
  sweep(opts, where);
  if (r.code !== 0) throw new DeployFailure(`${kind} ${describeHookExit(r, where.timeoutMs)}`);
}

/**
 * Without a sandbox, a daemon that a build started with `setsid` left the build's process group
 * and would run on. Every process of the repo's own user (one slipway created: `run_as` may name
 * a user with other work) that is in none of the sessions slipway started (its supervised
 * processes, builds and custom commands running now) is such a leftover, and is killed.
 */
function sweep(opts: DeployerOptions, where: HookPlace): void {
  const c = where.confine;
  if (c.mode !== 'user' || !c.user || opts.config().repos[where.repo]?.runAs) return;
  const ours = new Set<number>(runningShells());
  for (const p of opts.supervisor.list()) if (p.pid !== null) ours.add(p.pid);
  const procs = processesOfUid(c.user.uid);
  // An app being spawned right now is not recorded yet, but it is the gateway's own child.
  for (const p of procs) if (p.ppid === process.pid) ours.add(p.session);
  for (const p of procs) {
    if (ours.has(p.session)) continue;
    opts.log.warn('killing a process a build left behind', { repo: where.repo, pid: p.pid });
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}
