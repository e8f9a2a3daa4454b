import type { Command } from './types.ts';

export const customCmds: Command = {
  name: 'custom_cmds',
  usage: '<repo> <branch> <name>',
  summary: "run one of a branch's configured custom_cmds in its current checkout",
  argCounts: [3],
  needs: { action: 'operate', repoArg: true },
  async run(ctx) {
    const [repo, branch, name] = ctx.args as [string, string, string];
    return ctx.service.customCmd(repo, branch, name, ctx.out);
  },
};
