import os from 'node:os';
import { slipwayVersion } from '../lib/version.ts';
import { readProcUsage } from '../runners/proc-stat.ts';
import { describeRole } from '../service/access.ts';
import type { Release } from '../deploy/releases.ts';
import type { Service } from '../service/service.ts';
import type { BranchInfo, ProcessInfo, Snapshot } from './model.ts';

/** How long one read of a pid's /proc figures serves every dashboard asking: their refreshes fall on the same wall-clock second. */
const SHARED_READ_MS = 1000;
const recent = new Map<number, { at: number; usage: ReturnType<typeof readProcUsage> }>();

/** readProcUsage, read once for all the dashboards refreshing together. */
function sharedUsage(pid: number, now: number): ReturnType<typeof readProcUsage> {
  const hit = recent.get(pid);
  if (hit && Math.abs(now - hit.at) < SHARED_READ_MS) return hit.usage;
  const usage = readProcUsage(pid);
  // Old entries go when a newer read replaces them; pids that stopped are dropped on the next read of any.
  for (const [p, r] of recent) if (now - r.at >= SHARED_READ_MS) recent.delete(p);
  recent.set(pid, { at: now, usage });
  return usage;
}

/**
 * CPU use between two looks at a pid, from its CPU time in /proc. The first look has no
 * earlier one to compare with, so it shows nothing rather than a guess.
 */
export class UsageSampler {
  private last = new Map<number, { cpu: number; at: number }>();

  sample(pid: number, now: number): { cpuPercent?: number; rssBytes?: number } {
    const u = sharedUsage(pid, now);
    if (!u) return {};
    const prev = this.last.get(pid);
    this.last.set(pid, { cpu: u.cpuSeconds, at: now });
    const cpuPercent = prev && now > prev.at ? (100 * (u.cpuSeconds - prev.cpu)) / ((now - prev.at) / 1000) : undefined;
    return { cpuPercent, rssBytes: u.rssBytes };
  }

  /** Forgets pids no longer shown. */
  keep(pids: Set<number>): void {
    for (const pid of this.last.keys()) if (!pids.has(pid)) this.last.delete(pid);
  }
}

/**
 * What `user` may see, asked of the service: the same queries the ssh commands use, and the one
 * access decision (branchesFor) for what may be read and operated.
 */
export function takeSnapshot(service: Service, user: string, sampler: UsageSampler, focus?: { repo: string; branch: string }, now = Date.now()): Snapshot {
  const role = service.role(user);
  const operable = new Set(service.branchesFor(user, 'operate').map((b) => `${b.repo}/${b.branch}`));
  const pids = new Set<number>();
  const branches: BranchInfo[] = service.branchesFor(user, 'read').map(({ repo, branch }) => {
    const cfg = service.branch(repo, branch);
    const { current, releases } = service.releasesOf(repo, branch);
    // /proc is read only for the branch whose details are shown.
    const sampled = focus?.repo === repo && focus.branch === branch;
    const processes: ProcessInfo[] = service.processes(repo, branch).map((p) => {
      if (p.pid !== null && sampled) pids.add(p.pid);
      return {
        runner: p.runner,
        index: p.index,
        release: p.release,
        state: p.state,
        pid: p.pid,
        port: p.port,
        startedAt: p.startedAt,
        restarts: p.restarts,
        ...(p.pid !== null && p.state === 'running' && sampled ? sampler.sample(p.pid, now) : {}),
      };
    });
    return {
      repo,
      branch,
      runners: Object.values(cfg.runners).map((r) => ({ name: r.name, type: r.type, count: r.type === 'NginxStatic' ? 0 : r.processCount })),
      releases: releases.map((r) => ({ id: r.id, commit: r.commit, user: r.user, time: r.time, durationMs: r.durationMs, what: releaseWhat(r) })),
      current,
      activity: service.activity(repo, branch),
      lastDeploy: lastDeployShown(service, repo, branch),
      processes: processes.sort((a, b) => a.runner.localeCompare(b.runner) || a.index - b.index),
      mayOperate: operable.has(`${repo}/${branch}`),
      customCmds: Object.keys(cfg.customCmds),
    };
  });
  sampler.keep(pids);
  return {
    host: os.hostname(),
    user,
    role: role ? describeRole(role) : 'no role',
    version: slipwayVersion(),
    config: configShown(service),
    branches,
    now,
  };
}

/**
 * The last snapshot at a later time: ages move on and the focus branch's CPU and memory are read
 * again, without asking the service anything (what it changes arrives as events).
 */
export function retime(snap: Snapshot, sampler: UsageSampler, focus?: { repo: string; branch: string }, now = Date.now()): Snapshot {
  return {
    ...snap,
    now,
    branches: snap.branches.map((b) =>
      focus?.repo !== b.repo || focus.branch !== b.branch
        ? b
        : { ...b, processes: b.processes.map((p) => (p.pid !== null && p.state === 'running' ? { ...p, ...sampler.sample(p.pid, now) } : p)) },
    ),
  };
}

/** One short phrase for how a release came to be. */
function releaseWhat(r: Release): string | undefined {
  if (r.kind === 'rollback') return `rollback to ${r.rollbackOf ?? '?'}`;
  if (r.kind === 'config') return `config: ${(r.changes ?? []).join(', ') || 'changed'}`;
  return r.subject;
}

function configShown(service: Service): Snapshot['config'] {
  const refused = service.configState().refused;
  return refused ? { applied: false, problems: refused.problems } : { applied: true };
}

function lastDeployShown(service: Service, repo: string, branch: string): BranchInfo['lastDeploy'] {
  const d = service.lastDeploy(repo, branch);
  return d && { release: d.release, ok: d.ok, ...(d.error === undefined ? {} : { error: d.error }), at: d.started + d.ms };
}
