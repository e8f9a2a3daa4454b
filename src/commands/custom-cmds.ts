import type { Command } from './types.ts';
import { expectArgs, requireRole } from './types.ts';

export const customCmds: Command = {
  name: 'custom_cmds',
  usage: '<repo> <branch> <name>',
  summary: "run one of a branch's configured custom_cmds in its current checkout",
  async run(ctx) {
    expectArgs(this, ctx, 3);
    const [repo, branch, name] = ctx.args as [string, string, string];
    requireRole(ctx, 'operate', repo);
    return ctx.service.customCmd(repo, branch, name, ctx.out);
  },
};
