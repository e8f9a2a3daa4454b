import { createHash } from 'node:crypto';
import type { UpstreamRef } from '../config/types.ts';

/**
 * Names and paths that end up inside nginx files. Names in config are checked at load (repos,
 * runners, domains); branch names follow git's rules, which allow `;`, `{` or `$`, so everything
 * built from them is made safe here or refused.
 */

const SAFE_NAME = /^[A-Za-z0-9_.-]+$/;
/** What nginx reads as one plain token: no spaces, quotes, `;`, braces, `$` variables, `#` comments or escapes. */
const SAFE_TOKEN = /^[^\s;{}"'$#\\\x00-\x1f\x7f]+$/;

/** `backend_web-hello-main`, pyPaaS's name; a branch with other characters gets them replaced plus a hash, so two branches never share one. */
export function upstreamName(ref: UpstreamRef): string {
  const branch = SAFE_NAME.test(ref.branch) ? ref.branch : `${ref.branch.replace(/[^A-Za-z0-9_.-]/g, '_')}-${createHash('sha1').update(ref.branch).digest('hex').slice(0, 8)}`;
  return `backend_${ref.runner}-${ref.repo}-${branch}`;
}

/** A path nginx takes as one token, or an explanation of why it cannot. */
export function unsafePathReason(path: string): string | null {
  return SAFE_TOKEN.test(path) ? null : `'${path}' holds a space, quote, ';', '{', '}', '$', '#' or '\\' (nginx would read it as syntax)`;
}

/** `[::1]:8080`, `127.0.0.1:8080` or `8080` for a listen directive. */
export function listenAddress(address: string | undefined, port: number): string {
  if (!address) return String(port);
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
