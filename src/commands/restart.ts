import type { Command } from './types.ts';

export const restart: Command = {
  name: 'restart',
  usage: '[<repo> <branch>]',
  summary: 'restart the runners of a branch (every deployed branch you may operate when none is named)',
  argCounts: [0, 2],
  needs: { action: 'operate', repoArg: true },
  async run(ctx) {
    const [repo, branch] = ctx.args;
    const targets = repo && branch ? [{ repo, branch }] : ctx.service.branchesFor(ctx.user, 'operate').filter((b) => ctx.service.currentRelease(b.repo, b.branch));
    for (const t of targets) await ctx.service.restart(t.repo, t.branch, ctx.user, ctx.out);
    return 0;
  },
};
