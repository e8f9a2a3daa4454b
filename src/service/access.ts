import type { Config, Role } from '../config/types.ts';

/** Everything a user can ask for; the one place that decides is `allowed`. */
export type Action =
  | 'read' // clone, fetch, status, logs
  | 'push' // push configured branches and tags
  | 'operate' // restart, rebuild, rollback, custom commands
  | 'delete-ref' // delete a branch or tag
  | 'admin'; // everything else (cleanup, config)

export function allowed(role: Role, action: Action, repo?: string): boolean {
  switch (role.kind) {
    case 'admin':
      return true;
    case 'deploy':
      return (action === 'read' || action === 'push' || action === 'operate') && repo !== undefined && role.repos.includes(repo);
    case 'read':
      return action === 'read' && repo !== undefined && role.repos.includes(repo);
  }
}

/** The role of a user, or null when the config lists users and this one is not among them. */
export function roleOf(config: Config, user: string): Role | null {
  const users = config.global.users;
  if (users === null) return { kind: 'admin' };
  return users[user] ?? null;
}

export function describeRole(role: Role): string {
  return role.kind === 'admin' ? 'admin' : `${role.kind}: ${role.repos.join(', ') || '(no repos)'}`;
}

/** Repos a user can see at all. */
export function visibleRepos(config: Config, role: Role): string[] {
  return Object.keys(config.repos).filter((r) => allowed(role, 'read', r)).sort();
}
