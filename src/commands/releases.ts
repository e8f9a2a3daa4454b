import type { Command } from './types.ts';
import { expectArgs, requireRole } from './types.ts';

export const releases: Command = {
  name: 'releases',
  usage: '<repo> <branch>',
  summary: 'list the kept releases of a branch (current marked *)',
  async run(ctx) {
    expectArgs(this, ctx, 2);
    const [repo, branch] = ctx.args as [string, string];
    requireRole(ctx, 'read', repo);
    ctx.service.branch(repo, branch);
    const state = ctx.service.branchState(repo, branch);
    if (state.releases.length === 0) {
      ctx.out(`${repo}/${branch}: no releases yet\n`);
      return 0;
    }
    for (const r of [...state.releases].reverse()) {
      const mark = r.id === state.current ? '*' : ' ';
      ctx.out(`${mark} ${r.id.padEnd(6)} ${r.commit.slice(0, 12)}  ${new Date(r.time).toISOString().replace(/\.\d+Z$/, 'Z')}  ${(r.durationMs / 1000).toFixed(1)} s  ${r.user}\n`);
    }
    return 0;
  },
};
