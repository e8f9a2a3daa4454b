import type { Config, Role } from '../config/types.ts';

export interface CommandContext {
  user: string;
  role: Role;
  fingerprint: string;
  config: Config;
  args: string[];
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface Command {
  name: string;
  /** arguments, e.g. `<repo> <branch> [-f]` */
  usage: string;
  summary: string;
  run(ctx: CommandContext): Promise<number>;
}
