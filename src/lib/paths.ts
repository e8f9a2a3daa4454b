import path from 'node:path';

/** A name would have become a path outside its folder: a bug in the validation before it, never user input that got through. */
export class PathEscapeError extends Error {
  constructor(readonly root: string, readonly segments: readonly string[]) {
    super(`path ${JSON.stringify(segments.join('/')).slice(0, 300)} leaves ${root}`);
    this.name = 'PathEscapeError';
  }
}

/** Longest name one path segment may have (NAME_MAX on Linux filesystems). */
const MAX_SEGMENT_BYTES = 255;

/**
 * `root` joined with `segments`, refused unless the result stays strictly inside `root`: the
 * second wall behind every name check, for names from clients or config that become paths.
 * NUL bytes, empty, `.`/`..` and over-long segments are refused too, so a check that forgot a
 * case fails here instead of touching a file elsewhere.
 */
export function resolveInside(root: string, ...segments: string[]): string {
  const base = path.resolve(root);
  for (const s of segments) {
    for (const part of s.split('/')) {
      if (part === '' || part === '.' || part === '..' || part.includes('\0') || Buffer.byteLength(part) > MAX_SEGMENT_BYTES) {
        throw new PathEscapeError(base, segments);
      }
    }
  }
  const full = path.resolve(base, ...segments);
  if (!full.startsWith(base + path.sep)) throw new PathEscapeError(base, segments);
  return full;
}
