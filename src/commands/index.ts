import { UserError } from '../lib/errors.ts';
import { printable } from '../lib/text.ts';
import { roleNeeded } from '../service/access.ts';
import type { AuditSubject } from '../service/audit.ts';
import { cleanup } from './cleanup.ts';
import { customCmds } from './custom-cmds.ts';
import { logs } from './logs.ts';
import { gc } from './gc.ts';
import { rebuild } from './rebuild.ts';
import { releases } from './releases.ts';
import { reload } from './reload.ts';
import { restart } from './restart.ts';
import { rollback } from './rollback.ts';
import { status } from './status.ts';
import { flagLines, parseArgs, usageLine } from './args.ts';
import { defineCommand, type Command, type CommandContext } from './types.ts';
import { whoami } from './whoami.ts';
import { keys } from './keys.ts';
import { list } from './list.ts';
import { rebuildAuthorizedKeys } from './rebuild-authorized-keys.ts';

const help = defineCommand({
  name: 'help',
  usage: '[<command>]',
  summary: 'list the commands, or explain one',
  argCounts: [0, 1],
  needs: null,
  async run(ctx) {
    const [name] = ctx.args;
    ctx.out(name === undefined ? helpText() : commandHelp(find(name)));
    return 0;
  },
});

/** Every ssh command, in the order `help` lists them. */
const commands: Command[] = [
  help,
  whoami,
  list,
  status,
  logs,
  releases,
  rebuild,
  restart,
  rollback,
  customCmds,
  cleanup,
  gc,
  keys,
  rebuildAuthorizedKeys,
  reload,
];

export function helpText(): string {
  const width = Math.max(...commands.map((c) => `${c.name} ${c.usage}`.trim().length));
  const lines = commands.map((c) => `  ${`${c.name} ${c.usage}`.trim().padEnd(width)}  ${c.summary}`);
  return [
    'slipway: git push to deploy.',
    '',
    '  git push ssh://<user>@<host>:<port>/<repo> <branch>   deploy a branch',
    '  git clone ssh://<user>@<host>:<port>/<repo>           clone a repo',
    '',
    'Commands (ssh <host> <command>; <command> --help explains one):',
    ...lines,
    '',
  ].join('\n');
}

function commandHelp(cmd: Command): string {
  const needs = cmd.needs ? [`needs: ${roleNeeded(cmd.needs.action)}`] : [];
  const flags = flagLines(cmd);
  return [usageLine(cmd), cmd.summary, ...(flags.length ? ['flags:', ...flags] : []), ...needs, ''].join('\n');
}

function find(name: string): Command {
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw new UserError(`unknown command '${printable(name)}'; try 'help'`, 127, 'unknown-command');
  return cmd;
}

/**
 * Runs `argv` as a command (unknown ones exit 127 like a shell would). Flags and arguments are
 * parsed against the command's spec and the access it declares is checked here, before it runs,
 * so no command can forget its gate. Refusals are thrown as user errors for the front door to
 * print: usage errors exit 2, denials 1. `audit` is the line the audit log gets for this run: it
 * learns the arguments, and the repo and branch they name.
 */
export async function runCommand(argv: string[], audit: AuditSubject, ctx: Omit<CommandContext, 'args' | 'flags'>): Promise<number> {
  const [name, ...words] = argv;
  if (!name) {
    ctx.out(helpText());
    return 0;
  }
  if (words.length) audit.args = words;
  const cmd = find(name);
  const { args, flags, help: wantsHelp } = parseArgs(cmd, words);
  if (cmd.needs?.repoArg && args[0] !== undefined) Object.assign(audit, { repo: args[0] }, args[1] === undefined ? {} : { branch: args[1] });
  if (wantsHelp) {
    ctx.out(commandHelp(cmd));
    return 0;
  }
  if (cmd.needs) {
    const [repo, branch] = args;
    const { action, repoArg } = cmd.needs;
    if (repoArg && repo !== undefined) {
      ctx.service.requireAccess(ctx.user, action, repo);
      if (branch !== undefined) ctx.service.branch(repo, branch);
    } else if (action === 'admin') {
      ctx.service.requireAccess(ctx.user, action);
    }
  }
  return cmd.run({ ...ctx, args, flags });
}
