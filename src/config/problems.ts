import type { z } from 'zod';
import type { ConfigProblem } from './types.ts';

/**
 * zod issues turned into config problems: one line each, `file: key.path: what is wrong (what is
 * expected)`, with the offending value described the way a YAML author wrote it.
 */

/** Runs `schema` over one file's YAML value; every issue becomes one problem. */
export function validate<S extends z.ZodType>(schema: S, data: unknown, file: string): { value: z.output<S> } | { problems: ConfigProblem[] } {
  const result = schema.safeParse(data, { reportInput: true, error: genericMessage });
  if (result.success) return { value: result.data };
  return { problems: result.error.issues.flatMap((issue) => toProblems(file, issue)) };
}

function toProblems(file: string, issue: z.core.$ZodIssue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ file, path: keyPath([...issue.path, key]), message: `unknown key (${issue.message})` }));
  }
  if (issue.code === 'invalid_key') {
    return [{ file, path: keyPath(issue.path), message: issue.issues[0]?.message ?? issue.message }];
  }
  const missing = issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value');
  if (missing && issue.path.length > 0) {
    const key = String(issue.path.at(-1));
    return [{ file, path: keyPath(issue.path.slice(0, -1)), message: `missing '${key}' (${issue.message})` }];
  }
  return [{ file, path: keyPath(issue.path), message: issue.message }];
}

/** Messages for issues the schemas of schema.ts leave to the default; `expected …` alone when missing. */
function genericMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return gotExpected(iss.input, TYPE_NAMES[iss.expected] ?? iss.expected);
    case 'invalid_value':
      return gotExpected(iss.input, iss.values.map(String).join(', '));
    case 'too_small':
      if (iss.origin === 'string' || iss.origin === 'array') return 'is empty (expected a value)';
      return gotExpected(iss.input, `${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}`);
    case 'too_big':
      return gotExpected(iss.input, `${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}`);
    default:
      return undefined;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** A YAML value as a short phrase for `got …`. */
export function describe(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
  return String(value);
}

/** `branches.main.runners.web.type`; list positions as `[1]`. Names with dots are joined as is. */
function keyPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/** `got X (expected WHAT)`, or just `expected WHAT` for a missing key (toProblems adds `missing 'key'`). */
export function gotExpected(input: unknown, what: string): string {
  return input === undefined ? `expected ${what}` : `got ${describe(input)} (expected ${what})`;
}
