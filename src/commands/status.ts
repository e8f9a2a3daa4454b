import { describeExit } from '../runners/supervisor.ts';
import type { Command } from './types.ts';

export const status: Command = {
  name: 'status',
  usage: '[<repo> [<branch>]]',
  summary: 'what runs: release, commit and every process with its state',
  argCounts: [0, 1, 2],
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [onlyRepo, onlyBranch] = ctx.args;
    const branches = ctx.service.branchesFor(ctx.user, 'read').filter((b) => (!onlyRepo || b.repo === onlyRepo) && (!onlyBranch || b.branch === onlyBranch));
    for (const { repo, branch } of branches) {
      const cur = ctx.service.currentRelease(repo, branch);
      ctx.out(`${repo}/${branch}: ${cur ? `${cur.id} ${cur.commit.slice(0, 12)} by ${cur.user}` : 'not deployed'}\n`);
      for (const p of ctx.service.processes(repo, branch)) {
        const exit = p.lastExit ? ` last exit: ${describeExit(p.lastExit)}` : '';
        ctx.out(`  ${p.runner}.${p.index} ${p.release} ${p.state} pid ${p.pid ?? '-'}${p.port ? ` port ${p.port}` : ''} restarts ${p.restarts}${exit}\n`);
      }
    }
    return 0;
  },
};
