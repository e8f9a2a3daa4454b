import type { Config, Role } from '../config/types.ts';
import { ZERO_OID, type RefChange } from '../git/refs.ts';
import { UserError } from '../lib/errors.ts';

/**
 * The one place that decides who may do what (`user × action × repo`) and words the answer, for
 * git, the ssh commands and the dashboard alike.
 */

/** Everything a user can ask for. */
export type Action =
  | 'read' // clone, fetch, status, releases, logs
  | 'push' // push configured branches and tags
  | 'operate' // restart, rebuild, rollback, custom commands
  | 'delete-ref' // delete a branch or tag
  | 'admin'; // everything else (cleanup, config)

export type Decision = { kind: 'allowed' } | { kind: 'not-found' | 'forbidden'; message: string };

const ALLOWED: Decision = { kind: 'allowed' };

/** What the refusal says the user tried (`permission denied: <user> may not <verb> <repo>`), and which role it takes. */
const WORDS: Record<Action, { verb: string; needs: string }> = {
  read: { verb: 'read', needs: 'a role on the repo' },
  push: { verb: 'push to', needs: 'the deploy or admin role' },
  operate: { verb: 'operate', needs: 'the deploy or admin role' },
  'delete-ref': { verb: 'delete refs of', needs: 'the admin role' },
  admin: { verb: 'administer', needs: 'the admin role' },
};

/** The role an action takes, for `help <command>`. */
export function roleNeeded(action: Action): string {
  return WORDS[action].needs;
}

/** The role of a user, or null when the config lists users and this one is not among them (no login). */
export function roleOf(config: Config, user: string): Role | null {
  const users = config.global.users;
  if (users === null) return { kind: 'admin' };
  // Own keys only: a user named `constructor` must not find Object.prototype's.
  return Object.hasOwn(users, user) ? users[user]! : null;
}

/** Whether a verified key's owner may log in at all. */
export function mayLogIn(config: Config, user: string): boolean {
  return roleOf(config, user) !== null;
}

function can(role: Role, action: Action, repo?: string): boolean {
  switch (role.kind) {
    case 'admin':
      return true;
    case 'deploy':
      return (action === 'read' || action === 'push' || action === 'operate') && repo !== undefined && role.repos.includes(repo);
    case 'read':
      return action === 'read' && repo !== undefined && role.repos.includes(repo);
  }
}

/** A repo the user may not read gets the same answer as one that does not exist. */
export function notFound(repo: string): string {
  return `repository '${repo}' not found`;
}

export function decide(config: Config, user: string, action: Action, repo?: string): Decision {
  const role = roleOf(config, user);
  if (!role) return { kind: 'forbidden', message: 'your key is no longer authorized' };
  if (repo !== undefined && (!config.repos[repo] || !can(role, 'read', repo))) return { kind: 'not-found', message: notFound(repo) };
  if (can(role, action, repo)) return ALLOWED;
  // One stable line scripts can match; `whoami` and `help <command>` say which role takes what.
  return { kind: 'forbidden', message: `permission denied: ${user} may not ${repo === undefined && action === 'admin' ? 'run admin commands' : `${WORDS[action].verb} ${repo ?? ''}`.trim()}` };
}

/** The refusal convention: anything not allowed is thrown as a user error, caught once at the front door. */
export function requireAccess(config: Config, user: string, action: Action, repo?: string): void {
  const d = decide(config, user, action, repo);
  if (d.kind !== 'allowed') throw new UserError(d.message, 1, d.kind);
}

export function allowed(config: Config, user: string, action: Action, repo?: string): boolean {
  return decide(config, user, action, repo).kind === 'allowed';
}

/**
 * Which ref updates a push may make: configured branches and tags (push), deletes (delete-ref).
 * Returns the refusal the pusher sees next to the ref, or null.
 */
export function refusePush(config: Config, user: string, repoName: string, change: RefChange): string | null {
  const repo = config.repos[repoName];
  if (!repo) return notFound(repoName);
  if (change.ref.startsWith('refs/heads/')) {
    const branch = change.ref.slice('refs/heads/'.length);
    if (!repo.branches[branch]) {
      return `branch '${branch}' is not configured for repo '${repo.name}' (configured: ${Object.keys(repo.branches).join(', ')})`;
    }
  } else if (!change.ref.startsWith('refs/tags/')) {
    return `ref '${change.ref}' is not accepted (push branches under refs/heads/ or tags under refs/tags/)`;
  }
  const d = decide(config, user, change.new === ZERO_OID ? 'delete-ref' : 'push', repoName);
  return d.kind === 'allowed' ? null : d.message;
}

export function describeRole(role: Role): string {
  return role.kind === 'admin' ? 'admin' : `${role.kind}: ${role.repos.join(', ') || '(no repos)'}`;
}

/** Repos a user can see at all. */
export function visibleRepos(config: Config, user: string): string[] {
  return Object.keys(config.repos)
    .filter((r) => allowed(config, user, 'read', r))
    .sort();
}
