/**
 * git's ref name rules (`git check-ref-format`, refs.c `check_refname_component`), as one pure
 * function. Every name that will become a path under `refs/` passes it first.
 */

export interface RefNameRules {
  /** `--allow-onelevel`: a name of one component (`main`) is accepted */
  allowOneLevel?: boolean;
}

/** Why git would refuse `name` as a ref name, or null when it is valid. */
export function refNameError(name: string, rules: RefNameRules = {}): string | null {
  if (name === '') return 'is empty';
  if (name === '@') return "is '@'";
  const bad = /[\x00-\x1f\x7f ~^:?*[\\]/.exec(name);
  if (bad) return `contains ${describeChar(bad[0])}`;
  if (name.includes('..')) return "contains '..'";
  if (name.includes('@{')) return "contains '@{'";
  if (name.endsWith('.')) return "ends with '.'";
  const parts = name.split('/');
  for (const part of parts) {
    if (part === '') return name.startsWith('/') ? "starts with '/'" : name.endsWith('/') ? "ends with '/'" : "contains '//'";
    if (part.startsWith('.')) return `has a component starting with '.' ('${part}')`;
    if (part.endsWith('.lock')) return `has a component ending with '.lock' ('${part}')`;
  }
  if (parts.length < 2 && !rules.allowOneLevel) return 'has only one component';
  return null;
}

/**
 * Why receive-pack refuses to update `ref`, or null: as git's receive-pack, only `refs/…` names
 * whose part after `refs/` is a valid name of at least two components (one, for a deletion, so a
 * stray `refs/foo` can still be removed).
 */
export function pushedRefNameError(ref: string, opts: { deleting?: boolean } = {}): string | null {
  if (!ref.startsWith('refs/')) return "does not start with 'refs/'";
  const error = refNameError(ref.slice('refs/'.length), { allowOneLevel: opts.deleting ?? false });
  if (error) return error;
  // git has no length rule, but a loose ref is a file: past these a push would fail at the disk.
  if (Buffer.byteLength(ref) > MAX_REF_BYTES) return `is longer than ${MAX_REF_BYTES} bytes`;
  if (ref.split('/').some((part) => Buffer.byteLength(part) > MAX_COMPONENT_BYTES)) return `has a component longer than ${MAX_COMPONENT_BYTES} bytes`;
  return null;
}

const MAX_REF_BYTES = 1024;
const MAX_COMPONENT_BYTES = 255;

/** Why `name` cannot be a branch (`refs/heads/<name>`, as `git branch` checks it), or null. */
export function branchNameError(name: string): string | null {
  if (name.startsWith('-')) return "starts with '-'";
  if (name === 'HEAD') return "is 'HEAD'";
  return refNameError(name, { allowOneLevel: true });
}

function describeChar(ch: string): string {
  if (ch === ' ') return 'a space';
  const code = ch.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `a control character (0x${code.toString(16).padStart(2, '0')})`;
  return `'${ch}'`;
}
