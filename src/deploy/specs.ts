import path from 'node:path';
import type { BranchConfig, RunnerConfig } from '../config/types.ts';
import type { Confinement } from '../runners/confine.ts';
import type { ProcessSpec } from '../runners/supervisor.ts';
import { appEnv } from './env.ts';
import { branchSegment } from './releases.ts';
import { resolveInside } from '../lib/paths.ts';

export interface ReleaseRef {
  repo: string;
  branch: string;
  id: string;
  commit: string;
  checkout: string;
}

/** Runners that start processes (NginxStatic only serves files). */
export function processRunners(branch: BranchConfig): RunnerConfig[] {
  return Object.values(branch.runners).filter((r) => r.type !== 'NginxStatic');
}

export function needsPort(r: RunnerConfig): boolean {
  return r.type === 'NginxBackend' || r.type === 'UwsgiNginxBackend';
}

export function portCount(branch: BranchConfig): number {
  return processRunners(branch)
    .filter(needsPort)
    .reduce((n, r) => n + r.processCount, 0);
}

export function processId(rel: { repo: string; branch: string; id: string }, runner: string, index: number): string {
  return `${rel.repo}/${rel.branch}/${rel.id}/${runner}/${index}`;
}

export function logFileFor(dataDir: string, repo: string, branch: string, runner: string, index: number): string {
  return resolveInside(path.join(dataDir, 'logs'), repo, branchSegment(branch), `${runner}.${index}.log`);
}

/** Every process a release runs under `branch`'s config, confined by `confine`; `portFor` hands out backend ports. */
export function releaseSpecs(dataDir: string, branch: BranchConfig, rel: ReleaseRef, confine: Confinement, portFor: (runner: string, index: number) => number): ProcessSpec[] {
  const specs: ProcessSpec[] = [];
  for (const r of processRunners(branch)) {
    for (let i = 0; i < r.processCount; i++) {
      const port = needsPort(r) ? portFor(r.name, i) : undefined;
      specs.push({
        id: processId(rel, r.name, i),
        repo: rel.repo,
        branch: rel.branch,
        release: rel.id,
        runner: r.name,
        index: i,
        cmd: r.cmd!,
        cwd: rel.checkout,
        env: appEnv(branch, { repo: rel.repo, branch: rel.branch, release: rel.id, commit: rel.commit }, port, confine),
        port,
        logFile: logFileFor(dataDir, rel.repo, rel.branch, r.name, i),
        confine,
      });
    }
  }
  return specs;
}

/** `web 2/2 on ports 61502,61503; worker 1/1` */
export function describeRunning(branch: BranchConfig, specs: ProcessSpec[]): string {
  const parts = Object.values(branch.runners).map((r) => {
    if (r.type === 'NginxStatic') return `${r.name} static ${r.subdirectory ?? '.'}`;
    const mine = specs.filter((s) => s.runner === r.name);
    const ports = mine.filter((s) => s.port !== undefined).map((s) => s.port);
    return `${r.name} ${mine.length}/${r.processCount}${ports.length ? ` on port${ports.length > 1 ? 's' : ''} ${ports.join(',')}` : ''}`;
  });
  return parts.length ? parts.join('; ') : 'no runners';
}
