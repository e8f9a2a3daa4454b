import { allowed } from '../service/access.ts';
import { currentRelease } from '../deploy/releases.ts';
import type { Command } from './types.ts';
import { expectArgs, requireRole } from './types.ts';

export const status: Command = {
  name: 'status',
  usage: '[<repo> [<branch>]]',
  summary: 'what runs: release, commit and every process with its state',
  async run(ctx) {
    expectArgs(this, ctx, 0, 2);
    const [onlyRepo, onlyBranch] = ctx.args;
    if (onlyRepo) requireRole(ctx, 'read', onlyRepo);
    if (onlyRepo && onlyBranch) ctx.service.branch(onlyRepo, onlyBranch);
    for (const repo of Object.values(ctx.config.repos)) {
      if ((onlyRepo && repo.name !== onlyRepo) || !allowed(ctx.role, 'read', repo.name)) continue;
      for (const branch of Object.keys(repo.branches)) {
        if (onlyBranch && branch !== onlyBranch) continue;
        const state = ctx.service.branchState(repo.name, branch);
        const cur = currentRelease(state);
        ctx.out(`${repo.name}/${branch}: ${cur ? `${cur.id} ${cur.commit.slice(0, 12)} by ${cur.user}` : 'not deployed'}\n`);
        for (const p of ctx.service.processes(repo.name, branch)) {
          const exit = p.lastExit ? ` last exit ${p.lastExit.signal ?? p.lastExit.code}` : '';
          ctx.out(`  ${p.runner}.${p.index} ${p.release} ${p.state} pid ${p.pid ?? '-'}${p.port ? ` port ${p.port}` : ''} restarts ${p.restarts}${exit}\n`);
        }
      }
    }
    return 0;
  },
};
