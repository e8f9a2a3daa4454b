import type { Config } from '../config/types.ts';
import type { ReleaseStore } from '../deploy/releases.ts';
import { gc, GcBusyError, GcRaceError, objectFileCounts, type GcResult } from '../git/gc.ts';
import { reportInternal } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';

export interface HousekeepingDeps {
  config: () => Config;
  releases: ReleaseStore;
  gitDir: (repo: string) => string;
  log: Logger;
}

/** Repository gc: on demand, and after pushes once a repo has piled up packs or loose objects. */
export class Housekeeping {
  constructor(private readonly deps: HousekeepingDeps) {}

  /** Collects the repo now; throws GcBusyError when a gc of it runs already. */
  async gc(repo: string): Promise<GcResult & { ms: number }> {
    const started = Date.now();
    const result = await gc(this.deps.gitDir(repo), {
      graceMs: this.deps.config().global.gc.graceMs,
      keepAlive: () => this.keptCommits(repo),
    });
    const ms = Date.now() - started;
    if (result.changed) {
      this.deps.log.info('gc done', {
        repo,
        packs: `${result.packsBefore}->${result.packsAfter}`,
        loose: result.looseBefore,
        dropped: result.dropped,
        recent: result.recent,
        bytes: `${result.bytesBefore}->${result.bytesAfter}`,
        ms,
      });
    }
    return { ...result, ms };
  }

  /** Every push adds a pack: past the thresholds a gc starts, after the push answered and without holding anyone. */
  afterPush(repo: string): void {
    const { autoPacks, autoLoose } = this.deps.config().global.gc;
    const counts = objectFileCounts(this.deps.gitDir(repo));
    const due = (autoPacks > 0 && counts.packs > autoPacks) || (autoLoose > 0 && counts.loose > autoLoose);
    if (!due) return;
    this.gc(repo).catch((err: unknown) => {
      if (err instanceof GcBusyError) return; // the one running will do
      if (err instanceof GcRaceError) return void this.deps.log.info('gc stopped', { repo, reason: err.message });
      reportInternal(this.deps.log, err, { repo, during: 'gc' });
    });
  }

  /** Commits slipway may still need that no ref reaches: kept releases (rollback targets) and a deploy under way. */
  private keptCommits(repo: string): string[] {
    const out: string[] = [];
    for (const b of this.deps.releases.all()) {
      if (b.repo !== repo) continue;
      const state = this.deps.releases.load(repo, b.branch);
      out.push(...state.releases.map((r) => r.commit));
      if (state.pending) out.push(state.pending.commit);
    }
    return out;
  }
}
