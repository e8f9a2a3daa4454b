import { defineCommand } from './types.ts';

export const reload = defineCommand({
  name: 'reload',
  usage: '',
  summary: 'apply the config dir now (it is also watched); a config with problems is refused whole',
  argCounts: [0],
  needs: { action: 'admin', repoArg: false },
  async run(ctx) {
    const r = await ctx.service.reload(ctx.user, ctx.out);
    if (!r.applied) {
      for (const p of r.problems) ctx.err(`${p}\n`);
      ctx.err(`config refused: ${r.problems.length === 1 ? 'a problem' : `${r.problems.length} problems`}; the config on disk is not applied, the running config stays\n`);
      return 1;
    }
    for (const line of r.releases) ctx.out(`${line}\n`);
    for (const line of r.failures) ctx.err(`${line}\n`);
    ctx.out(`config applied${r.releases.length ? '' : ' (no deployed branch changed)'}\n`);
    return r.failures.length ? 1 : 0;
  },
});
