import type { BranchConfig } from '../config/types.ts';
import type { Confinement } from '../runners/confine.ts';
import type { ProcessSpec } from '../runners/supervisor.ts';
import { confinement, type DeployerOptions } from './context.ts';
import { deployCommit, nothingToDeploy, type DeployOutcome, type DeployRequest } from './pipeline.ts';
import { stopRelease } from './release-processes.ts';
import type { Release } from './releases.ts';
import { restartProcesses } from './restart.ts';
import { rollout, type RolloutRequest } from './rollout.ts';

/**
 * Turns a pushed commit into running processes (pipeline.ts), runs kept checkouts again
 * (rollout.ts) and restarts releases behind stand-ins (restart.ts). It holds the per-branch
 * lock: one deploy at a time per branch; different branches deploy in parallel.
 */
export class Deployer {
  /** processes nginx must not send traffic to right now (see restartProcesses) */
  private outOfRotation = new Set<string>();
  private active = new Map<string, { user: string; started: number; what: string }>();

  constructor(private readonly opts: DeployerOptions) {}

  /** What holds the branch's deploy lock now (a deploy, restart or rollback), or null. */
  activity(repo: string, branch: string): { what: string; user: string; started: number } | null {
    return this.active.get(`${repo}/${branch}`) ?? null;
  }

  /** Why a branch cannot take an operation right now, or null. */
  busy(repo: string, branch: string): string | null {
    const a = this.activity(repo, branch);
    if (!a) return null;
    return `${a.what} of ${repo}/${branch} in progress (started by ${a.user} ${Math.round((Date.now() - a.started) / 1000)} s ago)`;
  }

  /** Runs `fn` holding the branch's deploy lock, or returns the busy message. */
  async exclusive<T>(repo: string, branch: string, user: string, what: string, fn: () => Promise<T>): Promise<T | { busy: string }> {
    const busy = this.busy(repo, branch);
    if (busy) return { busy };
    const key = `${repo}/${branch}`;
    this.active.set(key, { user, started: Date.now(), what });
    try {
      return await fn();
    } finally {
      this.active.delete(key);
    }
  }

  async deploy(req: DeployRequest): Promise<DeployOutcome> {
    if (nothingToDeploy(req.repo.branches[req.branch]!, req.store, req.commit)) {
      return { ok: true, release: null, summary: `${req.repo.name}/${req.branch}: no runners and nothing to build` };
    }
    const r = await this.exclusive(req.repo.name, req.branch, req.user, 'deploy', () => deployCommit(this.opts, req));
    return 'busy' in r ? { ok: false, error: r.busy } : r;
  }

  /** See rollout.ts; callers hold the branch's lock (`exclusive`). */
  rollout(req: RolloutRequest): Promise<{ release: Release; summary: string; urls: string[] }> {
    return rollout(this.opts, req);
  }

  /** Whether nginx should send traffic to a process (false for one being restarted behind a stand-in). */
  inRotation(id: string): boolean {
    return !this.outOfRotation.has(id);
  }

  restartProcesses(repo: string, branchName: string, branch: BranchConfig, specs: ProcessSpec[]): Promise<void> {
    return restartProcesses(this.opts, this.outOfRotation, repo, branchName, branch, specs);
  }

  confinement(repo: string, cwd: string): Confinement {
    return confinement(this.opts, repo, cwd);
  }

  stopRelease(repo: string, branch: string, which: (p: ProcessSpec) => boolean): Promise<void> {
    return stopRelease(this.opts, repo, branch, which);
  }
}
