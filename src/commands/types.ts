import type { Role } from '../config/types.ts';
import type { Action } from '../service/access.ts';
import type { Service } from '../service/service.ts';
import type { Pusher } from '../deploy/report.ts';

export interface CommandContext {
  user: string;
  role: Role;
  fingerprint: string;
  service: Service;
  args: string[];
  /** to the client; `backlog` says how much it has not taken yet */
  out: Pusher;
  err: (text: string) => void;
}

export interface Command {
  name: string;
  /** arguments, e.g. `<repo> <branch> [<release>]` */
  usage: string;
  summary: string;
  /** the argument counts the usage allows */
  argCounts: number[];
  /**
   * What the user must be allowed to do; the router checks it before `run`. With `repoArg`, the
   * first argument names the repo (and a second one its branch); without that argument the
   * command acts on what `service.branchesFor(user, action)` returns. null: anyone logged in.
   */
  needs: { action: Action; repoArg: boolean } | null;
  run(ctx: CommandContext): Promise<number>;
}
