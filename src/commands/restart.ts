import { currentRelease } from '../deploy/releases.ts';
import type { Command } from './types.ts';
import { branchesFor } from './types.ts';

export const restart: Command = {
  name: 'restart',
  usage: '[<repo> <branch>]',
  summary: 'restart the runners of a branch (every deployed branch you may operate when none is named)',
  async run(ctx) {
    const named = ctx.args.length > 0;
    for (const { repo, branch } of branchesFor(ctx, 'operate', this)) {
      if (!named && !currentRelease(ctx.service.branchState(repo, branch))) continue;
      await ctx.service.restart(repo, branch, ctx.user, ctx.out);
    }
    return 0;
  },
};
