import fs from 'node:fs';
import path from 'node:path';
import { sshFingerprint } from '../config/keys.ts';
import type { BranchConfig, Config, Limits, PublicKey, RepoConfig, Role, SshSettings } from '../config/types.ts';
import { Deployer } from '../deploy/deployer.ts';
import type { DeployEvent } from '../deploy/context.ts';
import type { DeployOutcome } from '../deploy/pipeline.ts';
import { appEnv } from '../deploy/env.ts';
import { describeExit, runShell } from '../deploy/hooks.ts';
import { reconcile } from '../deploy/reconcile.ts';
import { branchForRelease, releaseConfigOf } from '../deploy/release-config.ts';
import { currentRelease, ReleaseStore, type Release } from '../deploy/releases.ts';
import type { Pusher } from '../deploy/report.ts';
import { releaseSpecs } from '../deploy/specs.ts';
import { GcBusyError, GcRaceError, type GcResult } from '../git/gc.ts';
import { moveRef } from '../git/move-ref.ts';
import { ObjectStore } from '../git/object-store.ts';
import { readRef, RefUpdateError } from '../git/refs.ts';
import { gitDirFor } from '../git/repo.ts';
import { UserError } from '../lib/errors.ts';
import { listDir, removeTree } from '../lib/fs-util.ts';
import type { Logger } from '../lib/log.ts';
import { count } from '../lib/plural.ts';
import type { Isolator } from '../runners/isolation.ts';
import type { ProcessStatus, Supervisor } from '../runners/supervisor.ts';
import type { RunnerConfig, UpstreamRef } from '../config/types.ts';
import type { SiteModel, Target } from '../nginx/model.ts';
import { Nginx } from '../nginx/nginx.ts';
import { allowed, mayLogIn, notFound, requireAccess, roleOf, visibleRepos, type Action } from './access.ts';
import { AuditLog, type Actor, type AuditSubject } from './audit.ts';
import { ConfigReloader, type ConfigCandidate, type ConfigState, type ReloadOutcome } from './config-reload.ts';
import { ServiceEvents } from './events.ts';
import { Housekeeping } from './housekeeping.ts';
import { LastDeploys, type LastDeploy } from './last-deploys.ts';
import { Logs, type LogLine, type LogQuery } from './logs.ts';
import { DeployLogFollow, type DeployLogReader } from './deploy-follow.ts';
import { PushFlow } from './push.ts';

const CUSTOM_CMD_TIMEOUT_MS = 60 * 60_000;

function servedByDomain(config: Config, repo: string, branch: string): boolean {
  return Object.values(config.domains).some((d) =>
    d.locations.some((l) => [l.upstream, l.maintenanceUpstream].some((u) => u?.repo === repo && u.branch === branch)),
  );
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

export interface BranchRef {
  repo: string;
  branch: string;
}

/**
 * The one service every front end (git push, ssh commands, later the dashboard) goes through:
 * it holds the one current config, answers the queries and runs the operations, and publishes
 * what happens as events. Who may do what is `access.ts`; front ends ask through `decide`.
 */
export class Service {
  readonly events: ServiceEvents;
  private config: Config;
  private keyOwners = new Map<string, PublicKey>();
  private readonly releases: ReleaseStore;
  private readonly deployer: Deployer;
  private readonly push: PushFlow;
  private readonly housekeeping: Housekeeping;
  private readonly nginx: Nginx;
  private readonly auditLog: AuditLog;
  private readonly lastDeploys: LastDeploys;
  private readonly logs: Logs;
  private readonly deployLogs: DeployLogFollow;
  private readonly reloader: ConfigReloader;

  constructor(
    config: Config,
    private readonly dataDir: string,
    private readonly supervisor: Supervisor,
    private readonly log: Logger,
    readonly isolator: Isolator,
  ) {
    this.config = config;
    this.auditLog = new AuditLog(dataDir, log.child('audit'));
    this.indexKeys();
    this.events = this.makeEvents();
    this.lastDeploys = new LastDeploys(dataDir, log);
    this.events.on((e) => this.lastDeploys.observe(e as DeployEvent), ['deploy-started', 'deploy-finished']);
    this.releases = new ReleaseStore(dataDir);
    this.deployer = new Deployer({
      dataDir,
      config: () => this.config,
      supervisor,
      releases: this.releases,
      log: log.child('deploy'),
      isolator,
      switchTraffic: async (repo, branch) => {
        // A branch no domain names cannot change what nginx serves.
        if (!servedByDomain(this.config, repo, branch)) return [];
        await this.nginx.apply(this.config);
        return this.nginx.urls(repo, branch);
      },
      onEvent: (e) => this.events.emit(e),
    });
    this.logs = new Logs((repo, branch) => this.releases.logDir(repo, branch), this.events);
    this.deployLogs = new DeployLogFollow((repo, branch) => this.releases.logDir(repo, branch), this.events);
    this.nginx = new Nginx({ dataDir, log: log.child('nginx'), lookup: (ref, runner) => this.target(ref, runner) });
    this.push = new PushFlow({
      config: () => this.config,
      releases: this.releases,
      deployer: this.deployer,
      stopBranch: (repo, branch) => this.stopBranch(repo, branch),
      afterPush: (repo) => this.housekeeping.afterPush(repo),
      log: log.child('push'),
    });
    this.housekeeping = new Housekeeping({ config: () => this.config, releases: this.releases, gitDir: (repo) => this.gitDir(repo), log: log.child('gc') });
    this.reloader = new ConfigReloader({
      config: () => this.config,
      apply: (config) => this.setConfig(config),
      releases: this.releases,
      rollout: async ({ repo, branch, base, config, changes, by, out }) => {
        const r = await this.exclusive(repo, branch, by, 'config release', () => this.deployer.rollout({ repo, branch, base, config, kind: 'config', changes, user: by, out }));
        return r.release.id;
      },
      events: this.events,
      log,
    });
  }

  private makeEvents(): ServiceEvents {
    const events = new ServiceEvents(this.log.child('events'));
    this.supervisor.on('start', (process: ProcessStatus) => events.emit({ type: 'process-started', process }));
    this.supervisor.on('crash', (process: ProcessStatus) => events.emit({ type: process.state === 'crash-loop' ? 'process-crash-loop' : 'process-exited', process }));
    this.supervisor.on('restart', (process: ProcessStatus) => events.emit({ type: 'process-restarted', process }));
    this.supervisor.on('stop', (process: ProcessStatus) => events.emit({ type: 'process-stopped', process }));
    return events;
  }

  private indexKeys(): void {
    this.keyOwners = new Map(this.config.keys.map((k) => [k.blob.toString('base64'), k]));
  }

  /** What the current release of a branch offers nginx for one runner; null when nothing of it runs. */
  private target(ref: UpstreamRef, runner: RunnerConfig): Target | null {
    const current = currentRelease(this.releases.load(ref.repo, ref.branch));
    if (!current) return null;
    if (runner.type === 'NginxStatic') {
      const base = realpathOr(current.checkout);
      return { kind: 'static', base, root: runner.subdirectory ? path.join(base, runner.subdirectory) : base, release: current.id };
    }
    const ports = this.supervisor
      .list((p) => p.repo === ref.repo && p.branch === ref.branch && p.release === current.id && p.runner === ref.runner && p.port !== undefined && this.deployer.inRotation(p.id))
      .map((p) => p.port!)
      .sort((a, b) => a - b);
    return { kind: 'ports', ports, release: current.id };
  }

  /** From now on a managed nginx that dies is started again. */
  watchNginx(): void {
    this.nginx.watch(() => this.config);
  }

  /** Domains as nginx serves them now (after the last apply). */
  domains(): SiteModel | null {
    return this.nginx.current;
  }

  /** Whether slipway would find an nginx binary for the current config (the starter's banner). */
  hasNginx(): boolean {
    return this.nginx.master(this.config) !== null;
  }

  /** The connection and push limits of the current config. */
  get limits(): Limits {
    return this.config.global.limits;
  }

  /** The SSH algorithm settings of the current config. */
  get sshSettings(): SshSettings {
    return this.config.global.ssh;
  }

  // ------------------------------------------------------------ config and identity

  /**
   * A valid new config: it replaces the old one whole, then what runs is made to match it. nginx
   * must accept what it implies first: a refusal throws (a UserError naming the file) and changes nothing.
   */
  async setConfig(config: Config): Promise<void> {
    await this.nginx.apply(config);
    this.config = config;
    this.indexKeys();
    this.events.emit({ type: 'config-applied', repos: Object.keys(config.repos).length, keys: config.keys.length });
    await this.reconcile();
  }

  /** A reload found problems: the running config stays. */
  refuseConfig(problems: string[], by = 'reload'): void {
    this.reloader.refuse(problems, by);
  }

  /** Whether the config on disk runs; see ConfigState. */
  configState(): ConfigState {
    return this.reloader.state();
  }

  /** See ConfigReloader.useSource. */
  useConfigSource(load: () => Promise<ConfigCandidate>, prepare: (config: Config) => Promise<void>): void {
    this.reloader.useSource(load, prepare);
  }

  /** Applies the config dir if it is valid as a whole, then its config releases; reloads queue. */
  reload(by: string, out: (text: string) => void = () => {}): Promise<ReloadOutcome> {
    return this.reloader.reload(by, out);
  }

  /** New releases for the deployed branches whose config changed (also at start). */
  applyConfigReleases(by: string, out: (text: string) => void = () => {}): Promise<{ releases: string[]; failures: string[] }> {
    return this.reloader.applyConfigReleases(by, out);
  }

  /** The user a verified key belongs to, if that user may log in. */
  identify(blob: Buffer): { user: string; fingerprint: string; comment: string } | null {
    const key = this.keyOwners.get(blob.toString('base64'));
    if (!key || !mayLogIn(this.config, key.user)) return null;
    return { user: key.user, fingerprint: sshFingerprint(blob), comment: key.comment };
  }

  role(user: string): Role | null {
    return roleOf(this.config, user);
  }

  /** Throws the refusal (a UserError) unless `user` may `action` (on `repo`), under the current config. */
  requireAccess(user: string, action: Action, repo?: string): void {
    requireAccess(this.config, user, action, repo);
  }

  /**
   * Runs what a front end does for `actor` (a push, a command, a dashboard action) and appends
   * its line to the audit log, whatever the outcome; see audit.ts. Every front end goes through
   * here, so git, commands and the dashboard are audited alike.
   */
  audited<T>(actor: Actor, subject: AuditSubject, fn: (subject: AuditSubject) => Promise<T>, exitOf?: (value: T) => number): Promise<T> {
    return this.auditLog.record(actor, subject, fn, exitOf);
  }

  // ------------------------------------------------------------ queries

  private repo(name: string): RepoConfig {
    const repo = this.config.repos[name];
    if (!repo) throw new UserError(notFound(name), 1, 'not-found');
    return repo;
  }

  branch(repoName: string, branch: string): BranchConfig {
    const repo = this.repo(repoName);
    const b = repo.branches[branch];
    if (!b) throw new UserError(`branch '${branch}' is not configured for repo '${repoName}' (configured: ${Object.keys(repo.branches).join(', ')})`);
    return b;
  }

  /** Repos the user can see at all, sorted. */
  visibleRepos(user: string): string[] {
    return visibleRepos(this.config, user);
  }

  /** The configs of the repos the user can see, sorted by name. */
  reposFor(user: string): RepoConfig[] {
    return visibleRepos(this.config, user).map((name) => this.config.repos[name]!);
  }

  /** Every user the config knows (a key in keys/ or an entry in `users`), with role and keys; null role: may not log in. */
  users(): { user: string; role: Role | null; keys: PublicKey[] }[] {
    const names = new Set([...this.config.keys.map((k) => k.user), ...Object.keys(this.config.global.users ?? {})]);
    return [...names].sort().map((user) => ({ user, role: roleOf(this.config, user), keys: this.config.keys.filter((k) => k.user === user) }));
  }

  /** How the latest deploy of a branch ended, failed ones included; null before the first. */
  lastDeploy(repo: string, branch: string): LastDeploy | null {
    return this.lastDeploys.get(repo, branch);
  }

  /** Configured branches of the repos the user may `action`, in config order. */
  branchesFor(user: string, action: Action): BranchRef[] {
    return Object.values(this.config.repos)
      .filter((r) => allowed(this.config, user, action, r.name))
      .flatMap((r) => Object.keys(r.branches).map((branch) => ({ repo: r.name, branch })));
  }

  gitDir(repo: string): string {
    return gitDirFor(this.dataDir, repo);
  }

  /** The commit a branch points at, or null when it was never pushed. */
  head(repo: string, branch: string): string | null {
    return readRef(this.gitDir(repo), `refs/heads/${branch}`);
  }

  currentRelease(repo: string, branch: string): Release | null {
    return currentRelease(this.releases.load(repo, branch));
  }

  /** Kept releases, oldest first, and the id of the current one. */
  releasesOf(repo: string, branch: string): { current: string | null; releases: Release[] } {
    const { current, releases } = this.releases.load(repo, branch);
    return { current, releases };
  }

  /** What holds the branch now (a deploy, restart or rollback under way), or null. */
  activity(repo: string, branch: string): { what: string; user: string; started: number } | null {
    return this.deployer.activity(repo, branch);
  }

  processes(repo: string, branch: string): ProcessStatus[] {
    return this.supervisor.list((p) => p.repo === repo && p.branch === branch);
  }

  // ------------------------------------------------------------ logs

  /** Checks that `user` may read the branch's logs (a repo it may not see is not found) and that `runner` is one the branch runs. */
  private logAccess(user: string, q: LogQuery): void {
    this.requireAccess(user, 'read', q.repo);
    const b = this.branch(q.repo, q.branch);
    if (q.runner !== undefined && !Object.hasOwn(b.runners, q.runner)) {
      throw new UserError(`runner '${q.runner}' is not configured for ${q.repo}/${q.branch} (configured: ${Object.keys(b.runners).join(', ') || 'none'})`);
    }
  }

  /** The last lines (default 100) of the branch's processes (or one runner's), merged by time. */
  tailLogs(user: string, q: LogQuery): LogLine[] {
    this.logAccess(user, q);
    return this.logs.tail(q);
  }

  /**
   * The tail, then each new line and a note per process start, exit and stop, across rotations
   * and deploys, until the returned function is called. `onLines` gets the tail before this returns.
   */
  followLogs(user: string, q: LogQuery, onLines: (lines: LogLine[]) => void): () => void {
    this.logAccess(user, q);
    return this.logs.follow(q, onLines);
  }

  /** A release's deploy log (default: the newest deploy's, failed ones included). */
  deployLog(user: string, repo: string, branch: string, release?: string): { release: string; text: string } {
    this.logAccess(user, { repo, branch });
    return this.logs.deployLog(repo, branch, release);
  }

  /**
   * Follows the deploy running now on the branch (only if it is `release`, when given) from its
   * start until it ends; null when none is (the caller prints the finished log instead).
   */
  followDeployLog(user: string, repo: string, branch: string, release: string | undefined, reader: DeployLogReader): (() => void) | null {
    this.logAccess(user, { repo, branch });
    return this.deployLogs.follow(repo, branch, release, reader);
  }

  /** Branch log directories followed now. */
  get followedLogs(): number {
    return this.logs.watching;
  }

  // ------------------------------------------------------------ git push

  /** The callbacks a push of `repo` by `user` runs with: ref policy, deploy before the ref moves, undo. */
  pushHooks(user: string, repo: string, backlog?: () => number) {
    return this.push.hooks(user, repo, backlog);
  }

  /** After a push answered: housekeeping of the repo (merging packs). */
  pushed(repo: string): void {
    this.push.pushed(repo);
  }

  // ------------------------------------------------------------ operations

  /** Adopts or starts what the current releases need, undoes interrupted deploys. */
  async reconcile(): Promise<void> {
    await reconcile({
      config: this.config,
      dataDir: this.dataDir,
      supervisor: this.supervisor,
      releases: this.releases,
      log: this.log.child('reconcile'),
      busy: (repo, branch) => this.deployer.busy(repo, branch) !== null,
      confinement: (repo, cwd) => this.deployer.confinement(repo, cwd),
    });
    await this.nginx.apply(this.config);
  }

  /** The branch ref was deleted: stop its runners, keep its releases for a later push or rollback. */
  async stopBranch(repo: string, branch: string): Promise<void> {
    this.releases.update(repo, branch, (state) => {
      state.current = null;
    });
    await this.deployer.stopRelease(repo, branch, () => true);
    this.log.info('branch deleted: runners stopped', { repo, branch });
  }

  /** Deploys the branch's current commit again, as a new release. */
  async rebuild(repoName: string, branch: string, user: string, out: Pusher): Promise<DeployOutcome> {
    const repo = this.repo(repoName);
    this.branch(repoName, branch);
    const commit = this.head(repoName, branch);
    if (!commit) throw new UserError(`${repoName}/${branch} has never been pushed; nothing to rebuild`);
    const store = new ObjectStore([path.join(this.gitDir(repoName), 'objects')]);
    try {
      return await this.deployer.deploy({ repo, branch, commit, user, store, out, kind: 'rebuild' });
    } finally {
      store.close();
    }
  }

  /**
   * Runs a kept release again (its checkout and its own env and runners) as a new release, and
   * moves the branch ref to its commit. Default: the release before the current one.
   */
  async rollback(repoName: string, branch: string, releaseId: string | undefined, user: string, out: (text: string) => void): Promise<string> {
    const branchCfg = this.branch(repoName, branch);
    return this.exclusive(repoName, branch, user, 'rollback', async () => {
      const state = this.releases.load(repoName, branch);
      const current = currentRelease(state);
      const idx = state.releases.findIndex((x) => x.id === state.current);
      const target = releaseId ? state.releases.find((x) => x.id === releaseId) : idx > 0 ? state.releases[idx - 1] : undefined;
      const kept = state.releases.map((x) => x.id).join(', ') || 'none';
      if (!target) throw new UserError(releaseId ? `no kept release '${releaseId}' for ${repoName}/${branch} (kept: ${kept})` : `${repoName}/${branch} has no earlier release to roll back to (kept: ${kept})`);
      if (target.id === current?.id) throw new UserError(`${target.id} is already the current release of ${repoName}/${branch}`);
      if (current?.kind === 'rollback' && current.rollbackOf === target.id) throw new UserError(`${target.id} is already the current release of ${repoName}/${branch} (as ${current.id}, a rollback to it)`);
      const ref = `refs/heads/${branch}`;
      try {
        const config = target.config ?? releaseConfigOf(branchCfg);
        const during = async () => (await this.deployer.rollout({ repo: repoName, branch, base: target, config, kind: 'rollback', user, out })).summary;
        return (await moveRef(this.gitDir(repoName), ref, target.commit, { during }))!;
      } catch (err) {
        if (err instanceof RefUpdateError) throw new UserError(`cannot move ${ref}: ${err.message}`);
        throw err;
      }
    });
  }

  /** Stops and starts the current release's processes (same ports, the release's config), one at a time. */
  async restart(repoName: string, branch: string, user: string, out: (text: string) => void): Promise<number> {
    const configured = this.branch(repoName, branch);
    return this.exclusive(repoName, branch, user, 'restart', async () => {
      const current = this.currentRelease(repoName, branch);
      if (!current) {
        out(`${repoName}/${branch}: not deployed, nothing to restart\n`);
        return 0;
      }
      const branchCfg = branchForRelease(configured, current.config);
      const running = this.processes(repoName, branch).filter((p) => p.release === current.id);
      const specs = releaseSpecs(this.dataDir, branchCfg, { repo: repoName, branch, id: current.id, commit: current.commit, checkout: current.checkout }, this.deployer.confinement(repoName, current.checkout), (runner, i) => {
        const port = running.find((p) => p.runner === runner && p.index === i)?.port;
        if (port === undefined) throw new UserError(`${repoName}/${branch}: ${runner}.${i} is not running; use rebuild`);
        return port;
      });
      await this.deployer.restartProcesses(repoName, branch, branchCfg, specs);
      out(`${repoName}/${branch}: restarted ${count(specs.length, 'process', 'processes')} of ${current.id}\n`);
      this.log.info('restarted', { repo: repoName, branch, user, processes: specs.length });
      return specs.length;
    });
  }

  /** The branch's custom command `name`; an unknown name is the user's error, naming the known ones. */
  customCmdOf(repoName: string, branch: string, name: string): string {
    const branchCfg = this.branch(repoName, branch);
    if (!Object.hasOwn(branchCfg.customCmds, name)) {
      const known = Object.keys(branchCfg.customCmds).join(', ') || 'none configured';
      throw new UserError(`no custom command '${name}' for ${repoName}/${branch} (known: ${known})`);
    }
    return branchCfg.customCmds[name]!;
  }

  /** Runs a branch's configured custom command in its current checkout; resolves to its exit code. */
  async customCmd(repoName: string, branch: string, name: string, out: Pusher): Promise<number> {
    const branchCfg = this.branch(repoName, branch);
    const cmd = this.customCmdOf(repoName, branch, name);
    const current = this.currentRelease(repoName, branch);
    if (!current) throw new UserError(`${repoName}/${branch} is not deployed; custom commands run in the current checkout`);
    const confine = this.deployer.confinement(repoName, current.checkout);
    const env = appEnv(branchForRelease(branchCfg, current.config), { repo: repoName, branch, release: current.id, commit: current.commit }, undefined, confine);
    const r = await runShell(cmd, { cwd: current.checkout, env, confine, onOutput: out, backlog: out.backlog, timeoutMs: CUSTOM_CMD_TIMEOUT_MS });
    if (r.code !== 0) out(`custom command '${name}' ${describeExit(r, CUSTOM_CMD_TIMEOUT_MS)}\n`);
    return r.code ?? 1;
  }

  /** Removes checkouts no release keeps and state of branches no longer configured (pyPaaS's cleanup, without its defects). */
  cleanup(): string[] {
    const removed: string[] = [];
    const root = path.join(this.dataDir, 'checkouts');
    const kept = new Set<string>();
    for (const { repo, branch } of this.releases.all()) {
      const state = this.releases.load(repo, branch);
      for (const r of state.releases) kept.add(r.checkout);
      if (state.pending) kept.add(state.pending.checkout).add(`${state.pending.checkout}.partial`);
    }
    for (const repo of listDir(root)) {
      for (const b of listDir(path.join(root, repo))) {
        for (const c of listDir(path.join(root, repo, b))) {
          const dir = path.join(root, repo, b, c);
          if (!kept.has(dir)) {
            removeTree(dir);
            removed.push(path.relative(this.dataDir, dir));
          }
        }
      }
    }
    return removed;
  }

  /** Garbage-collects a repo now (the `gc` command): what it kept, dropped and how long it took. */
  async gc(repoName: string): Promise<GcResult & { ms: number }> {
    this.repo(repoName);
    try {
      return await this.housekeeping.gc(repoName);
    } catch (err) {
      if (err instanceof GcBusyError) throw new UserError(`${err.message}; try again when it is done`);
      if (err instanceof GcRaceError) throw new UserError(err.message);
      throw err;
    }
  }

  /** Runs `fn` holding the branch's deploy lock; a busy branch is the user's refusal. */
  private async exclusive<T>(repo: string, branch: string, user: string, what: string, fn: () => Promise<T>): Promise<T> {
    // Watchers (the dashboard) learn when a restart or rollback holds the branch and when it ends.
    const r = await this.deployer.exclusive(repo, branch, user, what, async () => {
      this.events.emit({ type: 'operation', repo, branch, what, user, phase: 'started' });
      let ok = false;
      try {
        const v = await fn();
        ok = true;
        return v;
      } finally {
        this.events.emit({ type: 'operation', repo, branch, what, user, phase: 'finished', ok });
      }
    });
    if (typeof r === 'object' && r !== null && 'busy' in r) throw new UserError((r as { busy: string }).busy);
    return r as T;
  }
}
