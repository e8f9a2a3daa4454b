import type { Config } from '../config/types.ts';
import { configDigest, describeChanges, releaseConfigOf, type ReleaseConfig } from '../deploy/release-config.ts';
import { currentRelease, type Release, type ReleaseStore } from '../deploy/releases.ts';
import { isUserError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { ServiceEvents } from './events.ts';

/** Whether the config on disk is the one that runs (for `status`, the dashboard and `reload`). */
export interface ConfigState {
  /** when the running config was applied (start or reload) and by whom (`start`, `SIGHUP`, `watch`, a user) */
  applied: { at: number; by: string };
  /** the last reload was refused: the config on disk is not applied, for these reasons */
  refused: { at: number; by: string; problems: string[] } | null;
  /** branches whose config change could not be rolled out: they keep running their release's config */
  notRolledOut: { repo: string; branch: string; error: string }[];
}

/** A new config read from disk, or why it cannot be used (`file: key.path: what is wrong` each). */
export type ConfigCandidate = { config: Config } | { problems: string[] };

/** What a reload did: refused (`problems`), or applied with one line per change it rolled out. */
export interface ReloadOutcome {
  applied: boolean;
  problems: string[];
  /** e.g. `hello/main: r5 config: env GREETING changed` */
  releases: string[];
  /** config releases that failed; their branches keep their old release */
  failures: string[];
}

/** What the reloader needs of the service. */
export interface ReloadHooks {
  config(): Config;
  /** Makes a valid config the running one (nginx first: a refusal throws a UserError). */
  apply(config: Config): Promise<void>;
  releases: ReleaseStore;
  /** Rolls `base`'s checkout out again with `config` as a new release (the branch held meanwhile); resolves to its id. */
  rollout(req: { repo: string; branch: string; base: Release; config: ReleaseConfig; changes: string[]; by: string; out: (text: string) => void }): Promise<string>;
  events: ServiceEvents;
  log: Logger;
}

/**
 * Live configuration: reads the config dir on demand (`reload`, SIGHUP, the watch), applies it
 * only if it is valid as a whole, and turns config changes of deployed branches into releases.
 * Keeps what `status` and the dashboard say about the config on disk.
 */
export class ConfigReloader {
  private current: ConfigState = { applied: { at: Date.now(), by: 'start' }, refused: null, notRolledOut: [] };
  private source: ((candidate: Config) => Promise<void>) | null = null;
  private loadCandidate: (() => Promise<ConfigCandidate>) | null = null;
  /** reloads run one after another, never interleaved */
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(private readonly hooks: ReloadHooks) {}

  /** A reload found problems: the running config stays. */
  refuse(problems: string[], by = 'reload'): void {
    this.current = { ...this.current, refused: { at: Date.now(), by, problems } };
    this.hooks.events.emit({ type: 'config-refused', problems });
  }

  state(): ConfigState {
    return structuredClone(this.current);
  }

  /**
   * Where `reload` reads the config from: `load` reads and validates the config dir; `prepare`
   * readies what a valid one needs before it is applied (bare repos, app users) and throws a
   * UserError when it cannot.
   */
  useSource(load: () => Promise<ConfigCandidate>, prepare: (config: Config) => Promise<void>): void {
    this.loadCandidate = load;
    this.source = prepare;
  }

  /**
   * Reads the config dir and applies it if it is valid as a whole (and nginx accepts it); else
   * the running config stays and the problems are the answer. Then each deployed branch whose
   * env, commands or process counts changed gets a new release of its checkout. Reloads queue.
   */
  reload(by: string, out: (text: string) => void = () => {}): Promise<ReloadOutcome> {
    const next = this.reloading.then(() => this.reloadNow(by, out));
    this.reloading = next.catch(() => {});
    return next;
  }

  private async reloadNow(by: string, out: (text: string) => void): Promise<ReloadOutcome> {
    if (!this.loadCandidate || !this.source) throw new Error('reload before useConfigSource');
    const refuse = (problems: string[]): ReloadOutcome => {
      for (const p of problems) this.hooks.log.error(`config reload refused, the config on disk is not applied: ${p}`);
      this.refuse(problems, by);
      return { applied: false, problems, releases: [], failures: [] };
    };
    const candidate = await this.loadCandidate();
    if ('problems' in candidate) return refuse(candidate.problems);
    try {
      await this.source(candidate.config);
      await this.hooks.apply(candidate.config);
    } catch (err) {
      if (!isUserError(err)) throw err;
      return refuse(err.message.split('\n'));
    }
    this.current = { ...this.current, applied: { at: Date.now(), by }, refused: null };
    const { releases, failures } = await this.applyConfigReleases(by, out);
    // Logged once everything the change implies is done: the config releases too.
    this.hooks.log.info('config reloaded', { by, repos: Object.keys(candidate.config.repos).length, keys: candidate.config.keys.length, releases: releases.length, failed: failures.length });
    return { applied: true, problems: [], releases, failures };
  }

  /**
   * A deployed branch whose config (env, runners, process counts) is not the one it last ran
   * with gets a new release of its current checkout, rolled out as a deploy is. A busy branch is
   * left to its deploy, which runs with the config of its start; the next reload catches up.
   */
  async applyConfigReleases(by: string, out: (text: string) => void = () => {}): Promise<{ releases: string[]; failures: string[] }> {
    const releases: string[] = [];
    const failures: string[] = [];
    const notRolledOut: ConfigState['notRolledOut'] = [];
    for (const repo of Object.values(this.hooks.config().repos)) {
      for (const [branch, branchCfg] of Object.entries(repo.branches)) {
        const state = this.hooks.releases.load(repo.name, branch);
        const current = currentRelease(state);
        if (!current) continue;
        const wanted = releaseConfigOf(branchCfg);
        const digest = configDigest(wanted);
        if ((state.applied ?? configDigest(current.config ?? wanted)) === digest) continue;
        const changes = describeChanges(current.config ?? wanted, wanted);
        if (changes.length === 0) {
          // The current release already runs this config (a rollback to it): nothing to roll out.
          this.hooks.releases.update(repo.name, branch, (s) => void (s.applied = digest));
          continue;
        }
        const where = `${repo.name}/${branch}`;
        try {
          const id = await this.hooks.rollout({ repo: repo.name, branch, base: current, config: wanted, changes, by, out });
          releases.push(`${where}: ${id} config: ${changes.join(', ')}`);
        } catch (err) {
          if (!isUserError(err)) throw err;
          const error = `${where}: config not rolled out (${err.message}); ${current.id} keeps running`;
          this.hooks.log.error(error);
          failures.push(error);
          notRolledOut.push({ repo: repo.name, branch, error: err.message });
        }
      }
    }
    this.current = { ...this.current, notRolledOut };
    return { releases, failures };
  }
}
