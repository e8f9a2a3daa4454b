import { cleanup } from './cleanup.ts';
import { customCmds } from './custom-cmds.ts';
import { rebuild } from './rebuild.ts';
import { releases } from './releases.ts';
import { restart } from './restart.ts';
import { rollback } from './rollback.ts';
import { status } from './status.ts';
import type { Command, CommandContext } from './types.ts';
import { expectArgs } from './types.ts';
import { whoami } from './whoami.ts';
import { printable } from '../lib/text.ts';

/** Every ssh command, in the order `help` lists them. */
const commands: Command[] = [];

const help: Command = {
  name: 'help',
  usage: '',
  summary: 'list the commands',
  async run(ctx) {
    expectArgs(this, ctx, 0);
    ctx.out(helpText());
    return 0;
  },
};

commands.push(help, whoami, status, releases, rebuild, restart, rollback, customCmds, cleanup);

export function helpText(): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.usage}`.trim().length));
  const lines = commands.map((c) => `  ${`${c.name} ${c.usage}`.trim().padEnd(width)}  ${c.summary}`);
  return [
    'slipway: git push to deploy.',
    '',
    '  git push ssh://<user>@<host>:<port>/<repo> <branch>   deploy a branch',
    '  git clone ssh://<user>@<host>:<port>/<repo>           clone a repo',
    '',
    'Commands (ssh <host> <command>):',
    ...lines,
    '',
  ].join('\n');
}

/** Runs `argv` as a command; unknown ones exit 127 like a shell would. */
export async function runCommand(argv: string[], ctx: Omit<CommandContext, 'args'>): Promise<number> {
  const [name, ...args] = argv;
  if (!name) {
    ctx.out(helpText());
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    ctx.err(`unknown command '${printable(name)}'; try 'help'\n`);
    return 127;
  }
  return cmd.run({ ...ctx, args });
}
