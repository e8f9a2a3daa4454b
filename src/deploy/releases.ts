import fs from 'node:fs';
import path from 'node:path';
import { listDir, writeFileAtomic } from '../lib/fs-util.ts';
import { resolveInside } from '../lib/paths.ts';

export interface Release {
  id: string;
  commit: string;
  user: string;
  /** ms epoch when the deploy started */
  time: number;
  durationMs: number;
  checkout: string;
}

/** A deploy under way: recorded before anything starts, so a restart after a kill can undo it. */
export interface PendingDeploy {
  id: string;
  commit: string;
  user: string;
  time: number;
  checkout: string;
  /** the build or maintenance command running now: its process group, and the leader's start time */
  hook?: { pgid: number; startTicks: number } | null;
}

export interface BranchState {
  /** last release number handed out; ids are `r<seq>` */
  seq: number;
  current: string | null;
  /** oldest first; only releases whose checkout is still on disk */
  releases: Release[];
  pending: PendingDeploy | null;
}

const EMPTY: BranchState = { seq: 0, current: null, releases: [], pending: null };

/** `feature/x` → `feature%2Fx`: one path segment per branch, no collisions with `feature`. */
export function branchSegment(branch: string): string {
  return branch.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** Release history of every branch, one JSON file per branch, written atomically. */
export class ReleaseStore {
  constructor(private readonly dataDir: string) {}

  private file(repo: string, branch: string): string {
    return resolveInside(path.join(this.dataDir, 'state', 'branches'), repo, `${branchSegment(branch)}.json`);
  }

  load(repo: string, branch: string): BranchState {
    try {
      const parsed = JSON.parse(fs.readFileSync(this.file(repo, branch), 'utf8')) as BranchState;
      return { ...EMPTY, ...parsed };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw new Error(`${this.file(repo, branch)}: unreadable release state: ${(err as Error).message}`);
    }
  }

  save(repo: string, branch: string, state: BranchState): void {
    const file = this.file(repo, branch);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n');
  }

  /** Every (repo, branch) that has state on disk. */
  all(): { repo: string; branch: string }[] {
    const root = path.join(this.dataDir, 'state', 'branches');
    const out: { repo: string; branch: string }[] = [];
    for (const repo of listDir(root)) {
      for (const f of listDir(path.join(root, repo))) {
        if (f.endsWith('.json')) out.push({ repo, branch: decodeURIComponent(f.slice(0, -5)) });
      }
    }
    return out;
  }

  checkoutDir(repo: string, branch: string, releaseId: string, commit: string): string {
    return resolveInside(path.join(this.dataDir, 'checkouts'), repo, branchSegment(branch), `${releaseId}-${commit.slice(0, 12)}`);
  }

  logDir(repo: string, branch: string): string {
    return resolveInside(path.join(this.dataDir, 'logs'), repo, branchSegment(branch));
  }
}

export function currentRelease(state: BranchState): Release | null {
  return state.releases.find((r) => r.id === state.current) ?? null;
}
