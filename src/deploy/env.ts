import os from 'node:os';
import type { BranchConfig } from '../config/types.ts';
import type { Confinement } from '../runners/confine.ts';

/** The only variables apps and hooks inherit from the gateway's own environment. */
const BASE_KEYS = ['PATH', 'HOME', 'LANG', 'USER', 'TMPDIR', 'SHELL'] as const;

const FALLBACK: Record<(typeof BASE_KEYS)[number], string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: os.homedir(),
  LANG: 'C.UTF-8',
  USER: os.userInfo().username,
  TMPDIR: os.tmpdir(),
  SHELL: '/bin/sh',
};

export interface AppIdentity {
  repo: string;
  branch: string;
  release: string;
  /** full sha, always */
  commit: string;
}

/**
 * A clean environment: the base variables, then the branch `env`, then slipway's own. Nothing of
 * an SSH session (GIT_DIR, SSH_*, GIT_PROTOCOL) can reach it, because nothing else is copied.
 * Code that runs as its repo's user gets that user's HOME (the repo's data folder), USER and a
 * TMPDIR of its own (the sandbox's private /tmp), not the gateway's.
 */
export function appEnv(branch: BranchConfig, id: AppIdentity, port?: number, confine?: Confinement): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of BASE_KEYS) env[k] = process.env[k] || FALLBACK[k];
  env.PATH = withoutNpmPath(process.env) || FALLBACK.PATH;
  if (confine?.user) Object.assign(env, { HOME: confine.home, USER: confine.user.name, TMPDIR: '/tmp', SHELL: '/bin/sh' });
  Object.assign(env, branch.env);
  env.GIT_COMMIT = id.commit;
  env.SLIPWAY_REPO = id.repo;
  env.SLIPWAY_BRANCH = id.branch;
  env.SLIPWAY_RELEASE = id.release;
  if (port !== undefined) env.PORT = String(port);
  return env;
}

/**
 * The gateway's PATH, minus what `npm start` put in front of it (slipway's own
 * `node_modules/.bin` and its parents', npm's `node-gyp-bin`): an app must not find slipway's tools.
 */
export function withoutNpmPath(env: NodeJS.ProcessEnv): string {
  const dirs = (env.PATH ?? '').split(':');
  if (!env.npm_lifecycle_event) return dirs.join(':');
  return dirs.filter((d) => !/\/node_modules\/\.bin\/?$|\/node-gyp-bin\/?$/.test(d)).join(':');
}
