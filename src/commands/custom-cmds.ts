import { defineCommand } from './types.ts';

export const customCmds = defineCommand({
  name: 'custom_cmds',
  usage: '<repo> <branch> [<name>...]',
  summary: "run a branch's custom_cmds in order, stopping at a failure (none named: list them)",
  argCounts: [2, 3],
  repeats: true,
  needs: { action: 'operate', repoArg: true },
  async run(ctx) {
    const [repo, branch, ...names] = ctx.args as [string, string, ...string[]];
    if (names.length === 0) {
      const cmds = Object.entries(ctx.service.branch(repo, branch).customCmds);
      ctx.out(cmds.length ? cmds.map(([name, cmd]) => `${name}: ${cmd}\n`).join('') : `${repo}/${branch} has no custom_cmds configured\n`);
      return 0;
    }
    // Every name is checked before the first runs.
    for (const name of names) ctx.service.customCmdOf(repo, branch, name);
    for (const name of names) {
      if (names.length > 1) ctx.out(`-----> custom_cmds ${repo}/${branch} ${name}\n`);
      const code = await ctx.service.customCmd(repo, branch, name, ctx.out);
      if (code !== 0) return code;
    }
    return 0;
  },
});
