import type { BranchConfig } from '../config/types.ts';
import { removeTree } from '../lib/fs-util.ts';
import type { ReleaseStore } from './releases.ts';

/** Keeps the newest `keep_releases` releases (and always the current one); removes older checkouts. */
export function prune(releases: ReleaseStore, repo: string, branchName: string, branch: BranchConfig): void {
  const dropped = releases.update(repo, branchName, (state) => {
    const keep = new Set(state.releases.slice(-branch.keepReleases).map((r) => r.id));
    if (state.current) keep.add(state.current);
    const dropped = state.releases.filter((r) => !keep.has(r.id));
    state.releases = state.releases.filter((r) => keep.has(r.id));
    return dropped;
  });
  // The state no longer names them before they go: a kill in between leaves only stray files.
  // Config releases and rollbacks share a checkout with the release they came from.
  const inUse = new Set(releases.load(repo, branchName).releases.map((r) => r.checkout));
  for (const r of dropped) if (!inUse.has(r.checkout)) removeTree(r.checkout);
}
