import { readRef } from '../git/refs.ts';
import { gitDirFor } from '../git/repo.ts';
import type { Command } from './types.ts';
import { branchesFor } from './types.ts';

export const rebuild: Command = {
  name: 'rebuild',
  usage: '[<repo> <branch>]',
  summary: 'deploy the current commit again (every branch you may operate when none is named)',
  async run(ctx) {
    const named = ctx.args.length > 0;
    let failed = 0;
    for (const { repo, branch } of branchesFor(ctx, 'operate', this)) {
      // Without arguments only branches that were pushed are rebuilt.
      if (!named && !readRef(gitDirFor(ctx.service.dataDir, repo), `refs/heads/${branch}`)) continue;
      const r = await ctx.service.rebuild(repo, branch, ctx.user, ctx.out);
      if (!r.ok) {
        ctx.err(`${repo}/${branch}: ${r.error}\n`);
        failed++;
      }
    }
    return failed ? 1 : 0;
  },
};
