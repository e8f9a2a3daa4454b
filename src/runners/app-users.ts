import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

/**
 * The system users repos run as. Each repo gets its own (`slipway-<repo>` unless its file says
 * `run_as`), so the kernel keeps repos apart: files, signals, /proc and per-uid limits.
 */

export interface AppUser {
  name: string;
  uid: number;
  gid: number;
}

/** useradd's limit. */
const MAX_NAME = 32;

/**
 * `slipway-<repo>`, when that is a valid user name. A repo name with capitals, dots or
 * underscores, or a long one, is lowercased, mapped to `-` and cut, with a hash of the real name
 * appended so that `My.App` and `my-app` never share a user.
 */
export function defaultAppUser(repo: string): string {
  const plain = `slipway-${repo}`;
  if (/^[a-z0-9-]+$/.test(repo) && plain.length <= MAX_NAME) return plain;
  const hash = crypto.createHash('sha256').update(repo).digest('hex').slice(0, 6);
  const clean = repo.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `slipway-${clean.slice(0, MAX_NAME - 'slipway-'.length - hash.length - 1)}-${hash}`;
}

export function lookupUser(name: string): AppUser | null {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const f = r.stdout.trim().split(':');
  if (f.length < 7) return null;
  return { name, uid: Number(f[2]), gid: Number(f[3]) };
}

/** The user, created as a system user (no login shell, no home of its own) when missing. Throws a sentence on failure. */
export function ensureUser(name: string): AppUser {
  let user = lookupUser(name);
  if (!user) {
    const shell = fs.existsSync('/usr/sbin/nologin') ? '/usr/sbin/nologin' : '/bin/false';
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', shell, '--comment', 'slipway app', name], { encoding: 'utf8' });
    // Another gateway (or a test) may have created it meanwhile: look again before failing.
    user = lookupUser(name);
    if (!user) throw new Error(`cannot create the system user '${name}': ${(r.stderr || r.error?.message || `useradd exited ${r.status}`).trim()}`);
  }
  if (user.uid === 0 || user.gid === 0) throw new Error(`'${name}' has uid or gid 0: apps never run as root (choose another run_as)`);
  return user;
}
