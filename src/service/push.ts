import { releaseConfigOf } from '../deploy/release-config.ts';
import type { Config } from '../config/types.ts';
import type { Deployer } from '../deploy/deployer.ts';
import { currentRelease, type ReleaseStore } from '../deploy/releases.ts';
import type { RefUpdateContext } from '../git/receive-pack.ts';
import { ZERO_OID, type RefChange } from '../git/refs.ts';
import { removeTree } from '../lib/fs-util.ts';
import type { Logger } from '../lib/log.ts';
import { refusePush } from './access.ts';

/** What the push flow needs of the service. */
export interface PushFlowDeps {
  config: () => Config;
  releases: ReleaseStore;
  deployer: Deployer;
  stopBranch: (repo: string, branch: string) => Promise<void>;
  /** after a push answered: the repo's gc when it is due */
  afterPush: (repo: string) => void;
  log: Logger;
}

/** The callbacks receive-pack runs a push with (git itself knows no deploys). */
export interface PushHooks {
  authorize: (change: RefChange) => string | null;
  onRefUpdate: (u: RefUpdateContext) => Promise<string | null>;
  onRefUpdateUndone: (u: RefUpdateContext) => Promise<void>;
}

function branchOf(ref: string): string | null {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
}

/**
 * Push-to-deploy: which ref updates a push may make, the deploy that runs before a branch moves,
 * the undo when an atomic push fails after it, and the housekeeping after the push.
 */
export class PushFlow {
  constructor(private readonly deps: PushFlowDeps) {}

  /** `backlog`: bytes the pusher has not taken yet, so a deploy can drop build output it cannot take. */
  hooks(user: string, repo: string, backlog?: () => number): PushHooks {
    return {
      authorize: (change) => refusePush(this.deps.config(), user, repo, change) ?? this.busy(repo, change),
      onRefUpdate: (u) => this.onRefUpdate(u, repo, user, backlog),
      onRefUpdateUndone: (u) => this.undo(u, repo, user),
    };
  }

  /** Every push adds a pack; collecting them keeps lookups fast. It runs after the push answered. */
  pushed(repo: string): void {
    this.deps.afterPush(repo);
  }

  /** A branch that is deploying takes no second push (a clear message instead of a ref lock error). */
  private busy(repo: string, change: RefChange): string | null {
    const branch = branchOf(change.ref);
    return branch === null ? null : this.deps.deployer.busy(repo, branch);
  }

  /** Each accepted branch update deploys before the ref moves; deleting a branch stops its runners. */
  private async onRefUpdate(u: RefUpdateContext, repoName: string, user: string, backlog?: () => number): Promise<string | null> {
    const branch = branchOf(u.change.ref);
    if (branch === null) return null;
    if (u.change.new === ZERO_OID) {
      await this.deps.stopBranch(repoName, branch);
      return null;
    }
    const repo = this.deps.config().repos[repoName]!;
    const out = Object.assign((t: string) => u.progress(t), { backlog });
    const outcome = await this.deps.deployer.deploy({ repo, branch, commit: u.change.new, user, store: u.store, out });
    return outcome.ok ? null : outcome.error;
  }

  /**
   * Another ref of an atomic push failed after this branch deployed: the previous release runs
   * again, or nothing when there was none; the undone release is forgotten.
   */
  private async undo(u: RefUpdateContext, repo: string, user: string): Promise<void> {
    const branch = branchOf(u.change.ref);
    if (branch === null || u.change.new === ZERO_OID) return;
    const { releases, deployer } = this.deps;
    const state = releases.load(repo, branch);
    const undone = currentRelease(state);
    if (!undone || undone.commit !== u.change.new) return;
    const idx = state.releases.findIndex((r) => r.id === undone.id);
    const previous = idx > 0 ? state.releases[idx - 1]! : null;
    u.progress(`atomic push failed: taking back release ${undone.id} of ${repo}/${branch}\n`);
    if (previous) await deployer.rollout({ repo, branch, base: previous, config: previous.config ?? releaseConfigOf(this.deps.config().repos[repo]!.branches[branch]!), kind: 'restore', user, out: u.progress });
    else await this.deps.stopBranch(repo, branch);
    releases.update(repo, branch, (after) => {
      after.releases = after.releases.filter((r) => r.id !== undone.id);
    });
    removeTree(undone.checkout);
  }
}
