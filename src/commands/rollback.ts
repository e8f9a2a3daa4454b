import type { Command } from './types.ts';

export const rollback: Command = {
  name: 'rollback',
  usage: '<repo> <branch> [<release>]',
  summary: 'switch back to a kept release (default: the previous one) and move the branch to it',
  argCounts: [2, 3],
  needs: { action: 'operate', repoArg: true },
  async run(ctx) {
    const [repo, branch, release] = ctx.args as [string, string, string | undefined];
    await ctx.service.rollback(repo, branch, release, ctx.user, ctx.out);
    return 0;
  },
};
