import type { Role } from '../config/types.ts';
import type { Pusher } from '../deploy/report.ts';
import type { Action } from '../service/access.ts';
import type { Actor } from '../service/audit.ts';
import type { Service } from '../service/service.ts';

/**
 * One flag a command takes. `switch`: present or not (`-f`, `--json`); `value`: needs the next
 * word (`-n N`, or `-n5`, `--lines=5`), `int` checks it is a whole number in range; `optional`:
 * takes the next word only when it matches `accepts` (or the `--flag=value` form), so
 * `--deploy` alone and `--deploy r3` both work and a positional after it is not swallowed.
 */
export type FlagSpec =
  | { kind: 'switch'; short?: string; long?: string; help: string }
  | { kind: 'value'; short?: string; long?: string; arg: string; help: string }
  | { kind: 'int'; short?: string; long?: string; arg: string; help: string; min: number; max: number }
  | { kind: 'optional'; short?: string; long: string; arg: string; accepts: RegExp; help: string };

export type FlagSpecs = Record<string, FlagSpec>;

type FlagValue<S extends FlagSpec> = S extends { kind: 'switch' }
  ? boolean
  : S extends { kind: 'int' }
    ? number | undefined
    : S extends { kind: 'value' }
      ? string | undefined
      : string | true | undefined;

/** The parsed flags of a command: one typed value per declared flag. */
export type Flags<F extends FlagSpecs> = { [K in keyof F]: FlagValue<F[K]> };

export interface CommandContext<F extends FlagSpecs = FlagSpecs> {
  /** who runs it, as the audit log records them */
  actor: Actor;
  user: string;
  role: Role;
  fingerprint: string;
  service: Service;
  /** positional arguments, flags removed */
  args: string[];
  flags: Flags<F>;
  /** the session has a pty: colour and terminal layout are allowed */
  tty: boolean;
  /** to the client; `backlog` says how much it has not taken yet */
  out: Pusher;
  err: (text: string) => void;
  /** aborted when the client closes the channel or goes away (a command that follows ends then) */
  closed: AbortSignal;
  /** a command that streams while the client only listens: the connection does not count as idle until the returned function is called */
  holdOpen: () => () => void;
}

export interface Command<F extends FlagSpecs = FlagSpecs> {
  name: string;
  /** positional arguments, e.g. `<repo> <branch> [<release>]` */
  usage: string;
  summary: string;
  /** the positional argument counts the usage allows */
  argCounts: number[];
  /** the last word of the usage repeats (`<name>...`): more arguments than the largest count are allowed */
  repeats?: boolean;
  /** the flags it takes besides `-h`/`--help` (which every command takes) */
  flags?: F;
  /**
   * What the user must be allowed to do; the router checks it before `run`. With `repoArg`, the
   * first argument names the repo (and a second one its branch); without that argument the
   * command acts on what `service.branchesFor(user, action)` returns. null: anyone logged in.
   */
  needs: { action: Action; repoArg: boolean } | null;
  run(ctx: CommandContext<F>): Promise<number>;
}

/** Declares a command, so its `run` sees its own flags with their types. */
export function defineCommand<F extends FlagSpecs = Record<never, never>>(cmd: Command<F>): Command {
  return cmd as unknown as Command;
}

/** The `--json` switch of the commands whose output scripts read (shapes: docs/commands.md). */
export const JSON_FLAG = { kind: 'switch', long: '--json', help: 'print one JSON document instead (shape: docs/commands.md)' } as const satisfies FlagSpec;
