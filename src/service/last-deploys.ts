import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { DeployEvent } from '../deploy/context.ts';
import { writeFileAtomic } from '../lib/fs-util.ts';
import type { Logger } from '../lib/log.ts';

/** How the latest deploy of a branch ended (a failed one leaves no release, so releases cannot tell). */
export interface LastDeploy {
  release: string;
  commit: string;
  user: string;
  /** ms epoch */
  started: number;
  ms: number;
  ok: boolean;
  error?: string;
}

const schema = z.record(
  z.string(),
  z.object({ release: z.string(), commit: z.string(), user: z.string(), started: z.number(), ms: z.number(), ok: z.boolean(), error: z.string().optional() }),
);

/**
 * The last deploy result of every branch, kept from the deploy events in one state file
 * (`<data>/state/last-deploys.json`, written atomically) so `status` shows it after a restart.
 */
export class LastDeploys {
  private readonly file: string;
  private readonly started = new Map<string, { commit: string; user: string; time: number }>();
  private all: Record<string, LastDeploy>;

  constructor(dataDir: string, log: Logger) {
    this.file = path.join(dataDir, 'state', 'last-deploys.json');
    try {
      this.all = schema.parse(JSON.parse(fs.readFileSync(this.file, 'utf8')));
    } catch (err) {
      // Only a record for `status`: a missing or damaged file starts over.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('last deploy results unreadable; starting over', { file: this.file, error: (err as Error).message });
      this.all = {};
    }
  }

  /** Feeds it the deployer's events. */
  observe(e: DeployEvent): void {
    const key = `${e.repo}\0${e.branch}`;
    if (e.type === 'deploy-started') this.started.set(key, { commit: e.commit, user: e.user, time: Date.now() });
    if (e.type !== 'deploy-finished') return;
    const s = this.started.get(key);
    this.started.delete(key);
    if (!s) return;
    this.all[`${e.repo}/${e.branch}`] = { release: e.release, commit: s.commit, user: s.user, started: s.time, ms: e.ms, ok: e.ok, ...(e.error ? { error: e.error } : {}) };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    writeFileAtomic(this.file, JSON.stringify(this.all), 0o600);
  }

  get(repo: string, branch: string): LastDeploy | null {
    return this.all[`${repo}/${branch}`] ?? null;
  }
}
