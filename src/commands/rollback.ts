import type { Command } from './types.ts';
import { expectArgs, requireRole } from './types.ts';

export const rollback: Command = {
  name: 'rollback',
  usage: '<repo> <branch> [<release>]',
  summary: 'switch back to a kept release (default: the previous one) and move the branch to it',
  async run(ctx) {
    expectArgs(this, ctx, 2, 3);
    const [repo, branch, release] = ctx.args as [string, string, string | undefined];
    requireRole(ctx, 'operate', repo);
    await ctx.service.rollback(repo, branch, release, ctx.user, ctx.out);
    return 0;
  },
};
