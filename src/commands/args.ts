import { UserError } from '../lib/errors.ts';
import { printable } from '../lib/text.ts';
import type { Command, FlagSpec } from './types.ts';

/** What the router hands a command: its positional words and its flags, checked against its spec. */
export interface ParsedArgs {
  args: string[];
  flags: Record<string, string | number | boolean | undefined>;
  help: boolean;
}

const HELP: FlagSpec = { kind: 'switch', short: '-h', long: '--help', help: 'explain this command' };

function flagNames(spec: FlagSpec): string[] {
  return [spec.short, spec.long].filter((n): n is string => n !== undefined);
}

function flagUsage(spec: FlagSpec): string {
  const name = spec.short ?? spec.long!;
  switch (spec.kind) {
    case 'switch':
      return `[${name}]`;
    case 'value':
    case 'int':
      return `[${name} ${spec.arg}]`;
    case 'optional':
      return `[${name} [${spec.arg}]]`;
  }
}

/** `usage: logs <repo> <branch> [-n N] [-f]`: the one line a usage error prints. */
export function usageLine(cmd: Command): string {
  return ['usage:', cmd.name, cmd.usage, ...Object.values(cmd.flags ?? {}).map(flagUsage)].filter(Boolean).join(' ');
}

/** The flags of a command, one line each, for `help <command>`. */
export function flagLines(cmd: Command): string[] {
  const specs = Object.values(cmd.flags ?? {});
  const names = specs.map((s) => {
    const value = s.kind === 'switch' ? '' : s.kind === 'optional' ? ` [${s.arg}]` : ` ${s.arg}`;
    return flagNames(s).join(', ') + value;
  });
  const width = Math.max(0, ...names.map((n) => n.length));
  return specs.map((s, i) => `  ${names[i]!.padEnd(width)}  ${s.help}`);
}

/** A usage error: what is wrong, then the command's usage; exit status 2 as getopt tools use. */
function usageError(cmd: Command, problem: string | null): UserError {
  return new UserError(problem ? `${problem}\n${usageLine(cmd)}` : usageLine(cmd), 2, 'usage');
}

function takes(cmd: Command): string {
  const names = Object.values(cmd.flags ?? {}).flatMap((s) => [s.long ?? s.short!]);
  return names.length ? `takes ${names.join(', ')}` : 'takes no flags but --help';
}

/**
 * Splits a command's words into positional arguments and the flags its spec declares. Flags may
 * come anywhere; `--` ends them; `-` alone is a positional word. Short switches combine (`-fq`),
 * a short value flag may be attached (`-n50`), a long one written `--lines=50`. Anything else
 * starting with `-` is a usage error naming the flags the command takes.
 */
export function parseArgs(cmd: Command, words: string[]): ParsedArgs {
  const specs: [string, FlagSpec][] = Object.entries(cmd.flags ?? {});
  const byName = new Map<string, [string, FlagSpec]>();
  for (const entry of specs) for (const n of flagNames(entry[1])) byName.set(n, entry);
  for (const n of flagNames(HELP)) if (!byName.has(n)) byName.set(n, ['help', HELP]);

  const flags: ParsedArgs['flags'] = {};
  for (const [key, spec] of specs) flags[key] = spec.kind === 'switch' ? false : undefined;
  const args: string[] = [];
  let help = false;

  const setValue = (key: string, spec: FlagSpec, name: string, value: string): void => {
    if (spec.kind === 'int') {
      const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
      if (!(n >= spec.min && n <= spec.max)) throw usageError(cmd, `${name} takes a whole number from ${spec.min} to ${spec.max}, not '${printable(value)}'`);
      flags[key] = n;
    } else {
      flags[key] = value;
    }
  };

  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') {
      args.push(...words.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      args.push(word);
      continue;
    }
    // --name or --name=value; -x, -xyz (switches), -nVALUE
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const parts: { name: string; attached?: string }[] = [];
    if (word.startsWith('--')) parts.push(eq < 0 ? { name: word } : { name: word.slice(0, eq), attached: word.slice(eq + 1) });
    else {
      for (let j = 1; j < word.length; j++) {
        const name = `-${word[j]}`;
        const spec = byName.get(name)?.[1];
        if (spec && spec.kind !== 'switch' && j + 1 < word.length) {
          parts.push({ name, attached: word.slice(j + 1) });
          break;
        }
        parts.push({ name });
      }
    }
    for (const { name, attached } of parts) {
      const found = byName.get(name);
      if (!found) throw usageError(cmd, `unknown flag '${printable(name)}' (${cmd.name} ${takes(cmd)})`);
      const [key, spec] = found;
      if (spec === HELP) {
        help = true;
        continue;
      }
      switch (spec.kind) {
        case 'switch':
          if (attached !== undefined) throw usageError(cmd, `${name} takes no value`);
          flags[key] = true;
          break;
        case 'optional':
          if (attached !== undefined) flags[key] = attached;
          else if (i + 1 < words.length && spec.accepts.test(words[i + 1]!)) flags[key] = words[++i]!;
          else flags[key] = true;
          break;
        default: {
          const value = attached ?? (i + 1 < words.length ? words[++i] : undefined);
          if (value === undefined) throw usageError(cmd, `${name} needs a value (${spec.arg})`);
          setValue(key, spec, name, value);
        }
      }
    }
  }
  const countOk = cmd.argCounts.includes(args.length) || (cmd.repeats === true && args.length > Math.max(...cmd.argCounts));
  if (!help && !countOk) throw usageError(cmd, null);
  return { args, flags, help };
}
