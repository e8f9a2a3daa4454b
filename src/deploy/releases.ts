import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { listDir, writeFileAtomic } from '../lib/fs-util.ts';
import { resolveInside } from '../lib/paths.ts';
import type { ReleaseConfig } from './release-config.ts';

/**
 * How a release came to be: a push (or `rebuild`) built its checkout; `config` is a config
 * change rolled out on the previous release's checkout; `rollback` brings back a kept release
 * (its checkout and its config) as a new entry.
 */
export type ReleaseKind = 'push' | 'rebuild' | 'config' | 'rollback';

export interface Release {
  id: string;
  commit: string;
  user: string;
  /** ms epoch when the deploy started */
  time: number;
  durationMs: number;
  checkout: string;
  /** absent in state written before releases recorded it: read as `push` */
  kind?: ReleaseKind;
  /** the commit's subject line */
  subject?: string;
  /** the env and runners it runs with; absent in old state: the branch's current config */
  config?: ReleaseConfig;
  /** kind `config`: what changed against the release before it (names only, never env values) */
  changes?: string[];
  /** kind `rollback`: the release it brought back */
  rollbackOf?: string;
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
  /** digest of the branch config the branch was last deployed or reloaded with (see release-config.ts) */
  applied?: string;
}

const release = z.object({
  id: z.string(),
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  user: z.string(),
  time: z.number(),
  durationMs: z.number(),
  checkout: z.string(),
  kind: z.enum(['push', 'rebuild', 'config', 'rollback']).optional(),
  subject: z.string().optional(),
  config: z
    .object({
      env: z.record(z.string(), z.string()),
      runners: z.record(z.string(), z.object({ type: z.enum(['SimpleProcess', 'NginxBackend', 'UwsgiNginxBackend', 'NginxStatic']), cmd: z.string().optional(), processCount: z.number().int().nonnegative() })),
    })
    .optional(),
  changes: z.array(z.string()).optional(),
  rollbackOf: z.string().optional(),
});
const branchState = z.object({
  seq: z.number().int().nonnegative(),
  current: z.string().nullable(),
  releases: z.array(release),
  applied: z.string().optional(),
  pending: release
    .pick({ id: true, commit: true, user: true, time: true, checkout: true })
    .extend({ hook: z.object({ pgid: z.number().int().positive(), startTicks: z.number().int().nonnegative() }).nullable().optional() })
    .nullable(),
});

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

  /** The branch's state as on disk (a fresh copy: changing it changes nothing until `update`). */
  load(repo: string, branch: string): BranchState {
    const file = this.file(repo, branch);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw err;
    }
    try {
      return branchState.parse(JSON.parse(text)) as BranchState;
    } catch (err) {
      const reason = err instanceof z.ZodError ? `${err.issues[0]!.path.join('.')}: ${err.issues[0]!.message}` : (err as Error).message;
      throw new Error(`${file}: unreadable release state: ${reason}`);
    }
  }

  /**
   * The one way to change a branch's state: `fn` edits a fresh copy, which is then written
   * atomically. Callers run under the branch's deploy lock (or at start), so nothing interleaves.
   */
  update<T = void>(repo: string, branch: string, fn: (state: BranchState) => T): T {
    const state = this.load(repo, branch);
    const result = fn(state);
    const file = this.file(repo, branch);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, JSON.stringify(branchState.parse(state), null, 2) + '\n');
    return result;
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
