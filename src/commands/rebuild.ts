import type { Command } from './types.ts';

export const rebuild: Command = {
  name: 'rebuild',
  usage: '[<repo> <branch>]',
  summary: 'deploy the current commit again (every branch you may operate when none is named)',
  argCounts: [0, 2],
  needs: { action: 'operate', repoArg: true },
  async run(ctx) {
    const [repo, branch] = ctx.args;
    // Without arguments only branches that were pushed are rebuilt.
    const targets = repo && branch ? [{ repo, branch }] : ctx.service.branchesFor(ctx.user, 'operate').filter((b) => ctx.service.head(b.repo, b.branch));
    let failed = 0;
    for (const t of targets) {
      const r = await ctx.service.rebuild(t.repo, t.branch, ctx.user, ctx.out);
      if (!r.ok) {
        ctx.err(`${t.repo}/${t.branch}: ${r.error}\n`);
        failed++;
      }
    }
    return failed ? 1 : 0;
  },
};
