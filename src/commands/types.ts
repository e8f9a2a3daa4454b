import { allowed, type Action } from '../service/access.ts';
import type { Config, Role } from '../config/types.ts';
import { UserError } from '../lib/errors.ts';
import type { Service } from '../service/service.ts';
import type { Pusher } from '../deploy/report.ts';

export interface CommandContext {
  user: string;
  role: Role;
  fingerprint: string;
  config: Config;
  service: Service;
  args: string[];
  /** to the client; `backlog` says how much it has not taken yet */
  out: Pusher;
  err: (text: string) => void;
}

export interface Command {
  name: string;
  /** arguments, e.g. `<repo> <branch> [-f]` */
  usage: string;
  summary: string;
  run(ctx: CommandContext): Promise<number>;
}

/** Checks the argument count against the command's usage line. */
export function expectArgs(cmd: Command, ctx: CommandContext, min: number, max = min): void {
  if (ctx.args.length < min || ctx.args.length > max) throw new UserError(`usage: ${cmd.name} ${cmd.usage}`.trim(), 2);
}

/** Refuses unless the user's role allows `action` on `repo` (repos they cannot read look missing). */
export function requireRole(ctx: CommandContext, action: Action, repo?: string): void {
  if (allowed(ctx.role, action, repo)) return;
  if (repo !== undefined && !allowed(ctx.role, 'read', repo)) throw new UserError(`unknown repo '${repo}'`);
  throw new UserError(`${ctx.user} may not ${action}${repo ? ` '${repo}'` : ''} (role: ${ctx.role.kind})`);
}

/** `[<repo> <branch>]`: the named branch, or every configured branch the user may `action`. */
export function branchesFor(ctx: CommandContext, action: Action, cmd: Command): { repo: string; branch: string }[] {
  expectArgs(cmd, ctx, 0, 2);
  if (ctx.args.length === 1) throw new UserError(`usage: ${cmd.name} ${cmd.usage}`, 2);
  if (ctx.args.length === 2) {
    const [repo, branch] = ctx.args as [string, string];
    requireRole(ctx, action, repo);
    ctx.service.branch(repo, branch);
    return [{ repo, branch }];
  }
  return Object.values(ctx.config.repos)
    .filter((r) => allowed(ctx.role, action, r.name))
    .flatMap((r) => Object.keys(r.branches).map((branch) => ({ repo: r.name, branch })));
}
