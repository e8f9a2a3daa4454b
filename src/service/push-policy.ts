import { allowed } from './access.ts';
import type { RepoConfig, Role } from '../config/types.ts';
import { ZERO_OID, type RefChange } from '../git/refs.ts';

/**
 * Which ref updates a push may make: configured branches (push), tags (push), deletes (admin).
 * Returns the refusal the pusher sees next to the ref, or null.
 */
export function refusePush(change: RefChange, repo: RepoConfig, role: Role): string | null {
  const deleting = change.new === ZERO_OID;
  if (change.ref.startsWith('refs/heads/')) {
    const branch = change.ref.slice('refs/heads/'.length);
    if (!repo.branches[branch]) {
      const configured = Object.keys(repo.branches).join(', ');
      return `branch '${branch}' is not configured for repo '${repo.name}' (configured: ${configured})`;
    }
  } else if (!change.ref.startsWith('refs/tags/')) {
    return `ref '${change.ref}' is not accepted (push branches under refs/heads/ or tags under refs/tags/)`;
  }
  if (deleting) return allowed(role, 'delete-ref', repo.name) ? null : 'deleting refs needs the admin role';
  return allowed(role, 'push', repo.name) ? null : `pushing to '${repo.name}' needs the deploy or admin role`;
}
