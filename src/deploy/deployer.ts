import fs from 'node:fs';
import path from 'node:path';
import type { BranchConfig, Config, RepoConfig } from '../config/types.ts';
import { isUserError, reportInternal, UserError } from '../lib/errors.ts';
import { count } from '../lib/plural.ts';
import type { ObjectStore } from '../git/object-store.ts';
import { commitSubject, parseCommit, parseTree } from '../git/objects.ts';
import type { Logger } from '../lib/log.ts';
import { waitHealthy } from '../runners/health.ts';
import { releaseLines } from '../runners/log-files.ts';
import { allocatePorts } from '../runners/ports.ts';
import type { Confinement } from '../runners/confine.ts';
import type { Isolator } from '../runners/isolation.ts';
import { processesOfUid, readProcStat } from '../runners/proc-stat.ts';
import { describeExit, type ProcessSpec, type Supervisor } from '../runners/supervisor.ts';
import { exportCommit } from './checkout.ts';
import { appEnv } from './env.ts';
import { describeExit as describeHookExit, runningShells, runShell } from './hooks.ts';
import { branchForRelease, configDigest, releaseConfigOf, type ReleaseConfig } from './release-config.ts';
import { currentRelease, type PendingDeploy, type Release, type ReleaseStore } from './releases.ts';
import { DeployReport, seconds, type Pusher } from './report.ts';
import { describeRunning, portCount, processRunners, releaseSpecs, type ReleaseRef } from './specs.ts';
import { removeTree } from '../lib/fs-util.ts';

const STOP_GRACE_MS = 10_000;
/** A SimpleProcess has no port to probe: it counts as healthy when it is still up after this. */
const SIMPLE_PROCESS_SETTLE_MS = 1_000;
const DEFAULT_HEALTH_TIMEOUT_S = 30;
const HEALTH_PROBE_MS = 10;

interface HookPlace {
  repo: string;
  branch: string;
  confine: Confinement;
  timeoutMs: number;
}

/**
 * A step failed; the message completes `deploy failed: …`. A user error: rollback and rebuild
 * print it as one line. `details`: lines that show why (a failing process's last output).
 */
export class DeployFailure extends UserError {
  readonly details: string[] = [];
}

/** Output lines a failing process's report shows. */
const LAST_WORDS = 15;

/** Resolves once a log file has stopped growing for a moment (at most SETTLE_MAX_MS). */
async function settled(file: string): Promise<void> {
  const size = () => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  const end = Date.now() + SETTLE_MAX_MS;
  for (let last = -1, now = size(); now !== last && Date.now() < end; last = now, now = size()) await sleep(SETTLE_STEP_MS);
}
const SETTLE_STEP_MS = 30;
const SETTLE_MAX_MS = 500;

/** `last 3 lines of web.0 (r4):` and them, from its own log: lines of other releases sharing the file left out. */
function lastWords(s: ProcessSpec): string[] {
  const lines = releaseLines(s.logFile, s.release, LAST_WORDS);
  const name = `${s.runner}.${s.index}`;
  if (lines.length === 0) return [`${name} (${s.release}) printed nothing`];
  return [`last ${count(lines.length, 'line')} of ${name} (${s.release}):`, ...lines.map((l) => `| ${l}`)];
}

export interface DeployRequest {
  repo: RepoConfig;
  branch: string;
  commit: string;
  user: string;
  store: ObjectStore;
  out: Pusher;
  /** default `push` */
  kind?: 'push' | 'rebuild';
}

/**
 * A kept checkout runs again without a build: as a new release for a config change or a
 * rollback; `restore` runs `base` itself again (an atomic push taking back its deploy).
 */
export interface RolloutRequest {
  repo: string;
  branch: string;
  /** the release whose commit and checkout run again */
  base: Release;
  config: ReleaseConfig;
  kind: 'config' | 'rollback' | 'restore';
  /** kind `config`: what changed */
  changes?: string[];
  user: string;
  out: (text: string) => void;
}

/** What a deploy announces while it runs (the service publishes these). */
export type DeployEvent =
  | { type: 'deploy-started'; repo: string; branch: string; release: string; commit: string; user: string }
  | { type: 'deploy-step'; repo: string; branch: string; release: string; step: string; detail: string }
  | { type: 'deploy-finished'; repo: string; branch: string; release: string; ok: boolean; error?: string; ms: number };

/** `release` is null for a branch with nothing to run or build: the push only moves the ref. */
export type DeployOutcome = { ok: true; release: Release | null; summary: string } | { ok: false; error: string };

export interface DeployerOptions {
  dataDir: string;
  config: () => Config;
  supervisor: Supervisor;
  releases: ReleaseStore;
  log: Logger;
  /** Decides the user, sandbox and limits of each repo's code. */
  isolator: Isolator;
  /**
   * Points traffic (nginx) at what now runs for a branch; resolves to the URLs that reach it
   * (none when no domain does). Throws a UserError when nginx refuses; then nothing changed.
   */
  switchTraffic: (repo: string, branch: string) => Promise<string[]>;
  onEvent: (event: DeployEvent) => void;
}

/**
 * Turns a pushed commit into running processes: checkout, build, start, health, switch, stop the
 * old release. One deploy at a time per branch; different branches deploy in parallel.
 */
export class Deployer {
  /** processes nginx must not send traffic to right now (see restartProcesses) */
  private outOfRotation = new Set<string>();
  private active = new Map<string, { user: string; started: number; what: string }>();

  constructor(private readonly opts: DeployerOptions) {}

  /** Why a branch cannot take an operation right now, or null. */
  /** What holds the branch's deploy lock now (a deploy, restart or rollback), or null. */
  activity(repo: string, branch: string): { what: string; user: string; started: number } | null {
    return this.active.get(`${repo}/${branch}`) ?? null;
  }

  busy(repo: string, branch: string): string | null {
    const a = this.activity(repo, branch);
    if (!a) return null;
    return `${a.what} of ${repo}/${branch} in progress (started by ${a.user} ${Math.round((Date.now() - a.started) / 1000)} s ago)`;
  }

  /** Runs `fn` holding the branch's deploy lock, or returns the busy message. */
  async exclusive<T>(repo: string, branch: string, user: string, what: string, fn: () => Promise<T>): Promise<T | { busy: string }> {
    const busy = this.busy(repo, branch);
    if (busy) return { busy };
    const key = `${repo}/${branch}`;
    this.active.set(key, { user, started: Date.now(), what });
    try {
      return await fn();
    } finally {
      this.active.delete(key);
    }
  }

  async deploy(req: DeployRequest): Promise<DeployOutcome> {
    if (nothingToDeploy(req.repo.branches[req.branch]!, req.store, req.commit)) {
      return { ok: true, release: null, summary: `${req.repo.name}/${req.branch}: no runners and nothing to build` };
    }
    const r = await this.exclusive(req.repo.name, req.branch, req.user, 'deploy', () => this.run(req));
    return 'busy' in r ? { ok: false, error: r.busy } : r;
  }

  private async run(req: DeployRequest): Promise<DeployOutcome> {
    const { releases, log } = this.opts;
    const repo = req.repo.name;
    const branch = req.repo.branches[req.branch]!;
    const runsWith = releaseConfigOf(branch);
    const started = Date.now();
    const { id, checkout, old } = releases.update(repo, req.branch, (state) => {
      const id = `r${state.seq + 1}`;
      const checkout = releases.checkoutDir(repo, req.branch, id, req.commit);
      state.seq += 1;
      state.pending = { id, commit: req.commit, user: req.user, time: started, checkout };
      return { id, checkout, old: currentRelease(state) };
    });

    const rel: ReleaseRef = { repo, branch: req.branch, id, commit: req.commit, checkout };
    const confine = this.confinement(repo, checkout);
    const env = appEnv(branch, { repo, branch: req.branch, release: id, commit: req.commit }, undefined, confine);
    const where = { repo, branch: req.branch, release: id };
    this.opts.onEvent({ type: 'deploy-started', ...where, commit: req.commit, user: req.user });
    const report = new DeployReport(
      req.out,
      path.join(releases.logDir(repo, req.branch), `deploy-${id}.log`),
      this.opts.config().global.deployLoggerCmd,
      env,
      log,
      (step, detail) => this.opts.onEvent({ type: 'deploy-step', ...where, step, detail }),
      { maxLogBytes: this.opts.config().global.logs.maxBytes },
    );
    let oldStopped = false;
    let started_: ProcessSpec[] = [];
    try {
      report.step('Checkout', `${req.commit.slice(0, 12)} of ${repo}/${req.branch} as release ${id}`);
      // 0711: an app user passes through to its own checkout but lists nobody's.
      fs.mkdirSync(path.dirname(checkout), { recursive: true, mode: 0o711 });
      const exported = await guard(() => exportCommit(req.store, req.commit, checkout, this.opts.config().global.limits));
      this.opts.isolator.own(confine, checkout);
      for (const s of exported.submodules) report.warn(`submodule '${s}' is not fetched: slipway deploys the repo's own files only`);
      for (const l of exported.outsideLinks) report.warn(`symlink ${l} points outside the checkout: not written`);
      report.done(count(exported.files, 'file'));

      const hookCtx = { repo, branch: req.branch, confine, timeoutMs: req.repo.limits.buildTimeoutMs };
      await this.build(branch, checkout, env, report, hookCtx);

      if (branch.hooks.maintenance.length && old) {
        report.step('Maintenance', `stopping release ${old.id}`);
        await this.stopRelease(repo, req.branch, (p) => p.release === old.id);
        oldStopped = true;
        await this.switchTraffic(repo, req.branch);
        for (const cmd of branch.hooks.maintenance) await this.hook('maintenance', cmd, checkout, env, report, hookCtx);
        report.done();
      } else if (branch.hooks.maintenance.length) {
        report.step('Maintenance', '(first deploy: nothing to stop)');
        for (const cmd of branch.hooks.maintenance) await this.hook('maintenance', cmd, checkout, env, report, hookCtx);
        report.done();
      }

      report.step('Start', describeStart(branch));
      started_ = await this.startRelease(branch, rel, report);
      report.done();

      report.step('Switch');
      const release: Release = {
        id,
        commit: req.commit,
        user: req.user,
        time: started,
        durationMs: Date.now() - started,
        checkout,
        kind: req.kind ?? 'push',
        subject: subjectOf(req.store, req.commit),
        config: runsWith,
      };
      const appliedBefore = releases.update(repo, req.branch, (next) => {
        const before = next.applied;
        next.releases.push(release);
        next.current = id;
        next.pending = null;
        next.applied = configDigest(runsWith);
        return before;
      });
      let urls: string[];
      try {
        urls = await this.switchTraffic(repo, req.branch);
      } catch (err) {
        // nginx kept serving the old release: the state says so again.
        releases.update(repo, req.branch, (back) => {
          back.releases = back.releases.filter((r) => r.id !== id);
          back.current = old?.id ?? null;
          back.applied = appliedBefore;
        });
        throw err;
      }
      report.done();

      if (old && !oldStopped) {
        const drain = urls.length ? drainSeconds(this.opts.config(), branch) : 0;
        report.step('Stop', `release ${old.id}${drain ? ` after ${drain} s for its requests to finish` : ''}`);
        await sleep(drain * 1000);
        await this.stopRelease(repo, req.branch, (p) => p.release !== id);
        report.done();
      } else {
        await this.stopRelease(repo, req.branch, (p) => p.release !== id);
      }
      this.prune(repo, req.branch, branch);

      const summary = `${repo}/${req.branch} ${req.commit.slice(0, 8)}: ${describeRunning(branch, started_)} (${seconds(Date.now() - started)})`;
      report.line(summary);
      if (urls.length) report.line(`live at ${urls.join(' ')}`);
      const steps = Object.fromEntries(Object.entries(report.durations).map(([k, v]) => [`${k}_ms`, v]));
      log.info('deployed', { repo, branch: req.branch, release: id, commit: req.commit, user: req.user, ms: Date.now() - started, ...steps });
      this.opts.onEvent({ type: 'deploy-finished', ...where, ok: true, ms: Date.now() - started });
      return { ok: true, release, summary };
    } catch (err) {
      const reason = err instanceof DeployFailure ? err.message : reportInternal(log, err, { repo, branch: req.branch, release: id });
      report.fail(reason, err instanceof DeployFailure ? err.details : []);
      const failedStep = report.currentStep.toLowerCase();
      await this.stopRelease(repo, req.branch, (p) => p.release === id);
      if (oldStopped && old) {
        report.step('Restore', `release ${old.id}`);
        try {
          await this.startRelease(branchForRelease(branch, old.config), { repo, branch: req.branch, id: old.id, commit: old.commit, checkout: old.checkout }, report);
          await this.switchTraffic(repo, req.branch);
          report.done(`release ${old.id} runs again`);
        } catch (restoreErr) {
          report.fail((restoreErr as Error).message);
          log.error('could not restore the previous release', { repo, branch: req.branch, release: old.id, error: (restoreErr as Error).message });
        }
      }
      try {
        removeTree(checkout);
      } catch (rmErr) {
        // What cannot be removed now is a leftover for `cleanup`; the failure is still reported.
        log.warn('could not remove the failed checkout', { checkout, error: (rmErr as Error).message });
      }
      releases.update(repo, req.branch, (after) => {
        after.pending = null;
      });
      const error = `deploy failed: ${reason.startsWith(failedStep) ? reason : `${failedStep} ${reason}`}`;
      report.line(`! ${error}; ${old ? `release ${old.id} keeps running` : 'nothing was running'}`);
      log.info('deploy failed', { repo, branch: req.branch, release: id, user: req.user, reason });
      this.opts.onEvent({ type: 'deploy-finished', ...where, ok: false, error, ms: Date.now() - started });
      return { ok: false, error };
    } finally {
      report.close();
    }
  }

  private async build(branch: BranchConfig, checkout: string, env: Record<string, string>, report: DeployReport, where: HookPlace): Promise<void> {
    let cmds = branch.hooks.build;
    if (cmds === null) cmds = fs.existsSync(path.join(checkout, '.build.sh')) ? ['./.build.sh'] : [];
    if (cmds.length === 0) return;
    report.step('Build', cmds.length === 1 ? cmds[0] : `${cmds.length} commands`);
    for (const cmd of cmds) await this.hook('build', cmd, checkout, env, report, where);
    report.done();
  }

  /** Runs one hook command; its process group is recorded so a start after a kill can end it. */
  private async hook(kind: string, cmd: string, cwd: string, env: Record<string, string>, report: DeployReport, where: HookPlace): Promise<void> {
    const recordHook = (hook: PendingDeploy['hook']) =>
      this.opts.releases.update(where.repo, where.branch, (state) => {
        if (state.pending) state.pending.hook = hook;
      });
    const r = await runShell(cmd, {
      cwd,
      env,
      confine: where.confine,
      onOutput: (c) => report.output(c),
      timeoutMs: where.timeoutMs,
      onSpawn: (pgid) => {
        const stat = readProcStat(pgid);
        if (stat) recordHook({ pgid, startTicks: stat.startTicks });
      },
    });
    recordHook(null);
    this.sweep(where);
    if (r.code !== 0) throw new DeployFailure(`${kind} ${describeHookExit(r, where.timeoutMs)}`);
  }

  /**
   * Without a sandbox, a daemon that a build started with `setsid` left the build's process group
   * and would run on. Every process of the repo's own user (one slipway created: `run_as` may name
   * a user with other work) that is in none of the sessions slipway started (its supervised
   * processes, builds and custom commands running now) is such a leftover, and is killed.
   */
  private sweep(where: HookPlace): void {
    const c = where.confine;
    if (c.mode !== 'user' || !c.user || this.opts.config().repos[where.repo]?.runAs) return;
    const ours = new Set<number>(runningShells());
    for (const p of this.opts.supervisor.list()) if (p.pid !== null) ours.add(p.pid);
    const procs = processesOfUid(c.user.uid);
    // An app being spawned right now is not recorded yet, but it is the gateway's own child.
    for (const p of procs) if (p.ppid === process.pid) ours.add(p.session);
    for (const p of procs) {
      if (ours.has(p.session)) continue;
      this.opts.log.warn('killing a process a build left behind', { repo: where.repo, pid: p.pid });
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  }

  /** Starts every process of a release on fresh ports and waits until all are healthy; on failure, stops them. */
  async startRelease(branch: BranchConfig, rel: ReleaseRef, report?: DeployReport): Promise<ProcessSpec[]> {
    const { supervisor } = this.opts;
    const used = new Set(supervisor.list().flatMap((p) => (p.port === undefined ? [] : [p.port])));
    let ports: number[];
    try {
      ports = await allocatePorts(portCount(branch), this.opts.config().global.ports, used);
    } catch (err) {
      throw new DeployFailure((err as Error).message);
    }
    const confine = this.confinement(rel.repo, rel.checkout);
    // A kept release may date from before a change of run_as.
    this.opts.isolator.own(confine, rel.checkout);
    const specs = releaseSpecs(this.opts.dataDir, branch, rel, confine, () => ports.shift()!);
    await this.startHealthy(branch, specs, report);
    return specs;
  }

  /** Starts `specs` and waits until every runner's processes are healthy; on failure, stops them. */
  private async startHealthy(branch: BranchConfig, specs: ProcessSpec[], report?: DeployReport): Promise<void> {
    const { supervisor } = this.opts;
    /** whose log the failure shows: the process that exited, or those that never became healthy */
    let culprits: ProcessSpec[] = [];
    try {
      const spawnStart = Date.now();
      for (const s of specs) await supervisor.start(s);
      report?.record('spawn', Date.now() - spawnStart);
      const healthStart = Date.now();
      for (const r of processRunners(branch)) {
        const mine = specs.filter((s) => s.runner === r.name);
        if (mine.length === 0) continue;
        const alive = () => mine.every((s) => supervisor.isAlive(s.id));
        const exited = () => mine.filter((s) => supervisor.get(s.id)?.lastExit || !supervisor.isAlive(s.id));
        if (r.type === 'SimpleProcess') {
          await new Promise((res) => setTimeout(res, SIMPLE_PROCESS_SETTLE_MS));
          if (!alive()) {
            culprits = exited();
            throw new DeployFailure(`health: ${r.name} exited right after starting`);
          }
          continue;
        }
        const path_ = r.type === 'NginxBackend' ? r.healthcheck?.path : undefined;
        const timeoutS = r.healthcheck?.timeout ?? DEFAULT_HEALTH_TIMEOUT_S;
        const h = await waitHealthy(
          mine.map((s) => ({ port: s.port!, path: path_, name: `${s.runner}.${s.index}` })),
          {
            timeoutMs: timeoutS * 1000,
            alive,
            // Probing a loopback port is cheap; a short interval is most of push-to-live.
            intervalMs: HEALTH_PROBE_MS,
            exitDetail: () => {
              const dead = mine.map((s) => supervisor.get(s.id)).find((p) => p?.lastExit);
              return dead?.lastExit ? describeExit(dead.lastExit) : undefined;
            },
            onProgress: (pending, ms) => report?.info(`waiting for ${pending.map((p) => `${p.target.name} on :${p.target.port}`).join(', ')} (${Math.round(ms / 1000)} s)… ${pending[0]!.problem}`),
          },
        );
        if (!h.ok) {
          culprits = h.pending ? mine.filter((s) => h.pending!.some((p) => p.port === s.port)) : exited();
          throw new DeployFailure(`health: ${r.name}: ${h.reason}`);
        }
        report?.info(`${r.name}: ${mine.length} healthy on ${mine.map((s) => s.port).join(',')}`);
      }
      report?.record('health', Date.now() - healthStart);
    } catch (err) {
      await Promise.all(specs.map((s) => supervisor.stop(s.id, STOP_GRACE_MS)));
      if (err instanceof DeployFailure) {
        // A stopped process's writer is gone with its group; one that crashed may still be writing its last lines.
        await Promise.all(culprits.map((s) => settled(s.logFile)));
        err.details.push(...culprits.flatMap((s) => lastWords(s)));
      }
      throw err;
    }
  }

  /** Whether nginx should send traffic to a process (false for one being restarted behind a stand-in). */
  inRotation(id: string): boolean {
    return !this.outOfRotation.has(id);
  }

  /**
   * Restarts a release's processes on their own ports. When a domain serves the branch, each
   * backend process first gets a stand-in on a fresh port: stand-ins healthy → nginx sends
   * traffic to them → drain → the originals restart → healthy → traffic back → drain → the
   * stand-ins stop. Without a domain (nothing routes to them), processes restart one by one.
   */
  async restartProcesses(repo: string, branchName: string, branch: BranchConfig, specs: ProcessSpec[]): Promise<void> {
    const { supervisor } = this.opts;
    const backends = specs.filter((s) => s.port !== undefined);
    const routed = backends.length > 0 && (await this.switchTraffic(repo, branchName)).length > 0;
    if (!routed) {
      for (const s of specs) {
        await supervisor.stop(s.id);
        await supervisor.start(s);
      }
      return;
    }
    const drainMs = drainSeconds(this.opts.config(), branch) * 1000;
    const used = new Set(supervisor.list().flatMap((p) => (p.port === undefined ? [] : [p.port])));
    const fresh = await allocatePorts(backends.length, this.opts.config().global.ports, used);
    const standIns = backends.map((s, i): ProcessSpec => ({
      ...s,
      id: `${s.id}~stand-in`,
      port: fresh[i]!,
      env: { ...s.env, PORT: String(fresh[i]) },
      logFile: s.logFile.replace(/\.log$/, '.stand-in.log'),
    }));
    try {
      await this.startHealthy(branch, standIns);
      for (const s of backends) this.outOfRotation.add(s.id);
      await this.switchTraffic(repo, branchName);
      await sleep(drainMs);
      for (const s of specs) {
        await supervisor.stop(s.id);
        await supervisor.start(s);
      }
      await this.waitRunning(branch, backends);
    } finally {
      // Whatever happened, the originals take the traffic back before the stand-ins go.
      for (const s of backends) this.outOfRotation.delete(s.id);
      for (const s of standIns) this.outOfRotation.add(s.id);
      try {
        await this.switchTraffic(repo, branchName);
        await sleep(drainMs);
      } finally {
        await Promise.all(standIns.map((s) => supervisor.stop(s.id, STOP_GRACE_MS)));
        for (const s of standIns) this.outOfRotation.delete(s.id);
      }
    }
  }

  /** Waits until restarted backends answer their health check again (they keep their ports). */
  private async waitRunning(branch: BranchConfig, backends: ProcessSpec[]): Promise<void> {
    for (const r of processRunners(branch)) {
      const mine = backends.filter((s) => s.runner === r.name);
      if (mine.length === 0) continue;
      const h = await waitHealthy(
        mine.map((s) => ({ port: s.port!, path: r.type === 'NginxBackend' ? r.healthcheck?.path : undefined })),
        { timeoutMs: (r.healthcheck?.timeout ?? DEFAULT_HEALTH_TIMEOUT_S) * 1000, alive: () => mine.every((s) => this.opts.supervisor.isAlive(s.id)), intervalMs: HEALTH_PROBE_MS },
      );
      if (!h.ok) throw new DeployFailure(`health: ${r.name}: ${h.reason}`);
    }
  }

  /** The switch itself; nginx refusing it is the deploy's failure, named as nginx's. */
  private async switchTraffic(repo: string, branch: string): Promise<string[]> {
    try {
      return await this.opts.switchTraffic(repo, branch);
    } catch (err) {
      if (isUserError(err)) throw new DeployFailure(`switch: ${err.message}`);
      throw err;
    }
  }

  /** How code of `repo` working in `cwd` runs, under the current config. */
  confinement(repo: string, cwd: string): Confinement {
    const config = this.opts.config();
    return this.opts.isolator.confinement(config.repos[repo]!, config.global, cwd);
  }

  async stopRelease(repo: string, branch: string, which: (p: ProcessSpec) => boolean): Promise<void> {
    const { supervisor } = this.opts;
    const victims = supervisor.list((p) => p.repo === repo && p.branch === branch && which(p));
    await Promise.all(victims.map((p) => supervisor.stop(p.id, STOP_GRACE_MS)));
  }

  /** Keeps the newest `keep_releases` releases (and always the current one); removes older checkouts. */
  prune(repo: string, branchName: string, branch: BranchConfig): void {
    const { releases } = this.opts;
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

  /**
   * A new release of a kept checkout, without a build: a config change of a deployed branch, or a
   * rollback. The same order as a deploy: start on fresh ports → healthy → switch → drain → stop
   * the old processes. If anything fails before the switch, the old release keeps serving.
   * Callers hold the branch's lock (`exclusive`).
   */
  async rollout(req: RolloutRequest): Promise<{ release: Release; summary: string; urls: string[] }> {
    const { releases, log } = this.opts;
    const { repo, branch: branchName, base } = req;
    const branch = branchForRelease(this.opts.config().repos[repo]!.branches[branchName]!, req.config);
    const started = Date.now();
    // No pending record: the checkout is shared and must never be removed by an undo. Processes
    // of a release that never became current are stopped by the next reconcile.
    const id = req.kind === 'restore' ? base.id : releases.update(repo, branchName, (state) => `r${++state.seq}`);
    const what = req.kind === 'restore' ? 'restored' : req.kind === 'rollback' ? `rollback to ${base.id}` : `config: ${req.changes?.join(', ') || 'unchanged'}`;
    const env = appEnv(branch, { repo, branch: branchName, release: id, commit: base.commit });
    const where = { repo, branch: branchName, release: id };
    this.opts.onEvent({ type: 'deploy-started', ...where, commit: base.commit, user: req.user });
    const report = new DeployReport(req.out, path.join(releases.logDir(repo, branchName), `deploy-${id}.log`), this.opts.config().global.deployLoggerCmd, env, log,
      (step, detail) => this.opts.onEvent({ type: 'deploy-step', ...where, step, detail }), { maxLogBytes: this.opts.config().global.logs.maxBytes });
    try {
      report.step('Start', `release ${id} (${what}) of ${base.commit.slice(0, 12)}`);
      let specs: ProcessSpec[];
      try {
        specs = await this.startRelease(branch, { repo, branch: branchName, id, commit: base.commit, checkout: base.checkout }, report);
      } catch (err) {
        report.fail((err as Error).message, err instanceof DeployFailure ? err.details : []);
        throw err;
      }
      report.done();
      report.step('Switch');
      const release: Release = req.kind === 'restore' ? base : {
        id,
        commit: base.commit,
        user: req.user,
        time: started,
        durationMs: Date.now() - started,
        checkout: base.checkout,
        kind: req.kind,
        ...(base.subject === undefined ? {} : { subject: base.subject }),
        config: req.config,
        ...(req.kind === 'config' ? { changes: req.changes ?? [] } : { rollbackOf: base.id }),
      };
      const before = releases.update(repo, branchName, (state) => {
        const was = { current: state.current, applied: state.applied };
        if (req.kind !== 'restore') state.releases.push(release);
        state.current = id;
        // A rollback runs an older config on purpose: the config on disk stays the one applied.
        if (req.kind === 'config') state.applied = configDigest(req.config);
        return was;
      });
      let urls: string[];
      try {
        urls = await this.switchTraffic(repo, branchName);
      } catch (err) {
        releases.update(repo, branchName, (back) => {
          if (req.kind !== 'restore') back.releases = back.releases.filter((r) => r.id !== id);
          back.current = before.current;
          back.applied = before.applied;
        });
        report.fail((err as Error).message);
        await this.stopRelease(repo, branchName, (p) => p.release === id);
        throw err;
      }
      report.done();
      const drain = urls.length && before.current ? drainSeconds(this.opts.config(), branch) : 0;
      report.step('Stop', before.current ? `release ${before.current}${drain ? ` after ${drain} s for its requests to finish` : ''}` : '');
      await sleep(drain * 1000);
      await this.stopRelease(repo, branchName, (p) => p.release !== id);
      report.done();
      this.prune(repo, branchName, branch);
      const summary = `${repo}/${branchName} ${base.commit.slice(0, 8)}: ${describeRunning(branch, specs)} (${seconds(Date.now() - started)})`;
      report.line(summary);
      if (urls.length) report.line(`live at ${urls.join(' ')}`);
      log.info(req.kind === 'rollback' ? 'rolled back' : 'config release', { repo, branch: branchName, release: id, of: base.id, user: req.user, changes: req.changes?.join(',') });
      this.opts.onEvent({ type: 'deploy-finished', ...where, ok: true, ms: Date.now() - started });
      return { release, summary, urls };
    } catch (err) {
      const error = (err as Error).message;
      this.opts.onEvent({ type: 'deploy-finished', ...where, ok: false, error, ms: Date.now() - started });
      throw err;
    } finally {
      report.close();
    }
  }
}

/**
 * A branch without runners, maintenance or build is a plain git branch: exporting its files would
 * only cost time. pyPaaS's default build (`./.build.sh`) counts when the commit has one.
 */
function nothingToDeploy(branch: BranchConfig, store: ObjectStore, commit: string): boolean {
  if (Object.keys(branch.runners).length > 0 || branch.hooks.maintenance.length > 0) return false;
  if (branch.hooks.build !== null) return branch.hooks.build.length === 0;
  const c = store.read(commit);
  const tree = c?.type === 'commit' ? store.read(parseCommit(c.data).tree) : null;
  return tree?.type === 'tree' && !parseTree(tree.data).some((e) => e.name === '.build.sh');
}

/** How long old processes keep serving after traffic moved to the new ones. */
export function drainSeconds(config: Config, branch: BranchConfig): number {
  return branch.drainSeconds ?? config.global.drainSeconds;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function describeStart(branch: BranchConfig): string {
  const runners = processRunners(branch);
  if (runners.length === 0) return '(no processes)';
  return runners.map((r) => `${r.name} ×${r.processCount}`).join(', ');
}

function subjectOf(store: ObjectStore, commit: string): string {
  const c = store.read(commit);
  return c?.type === 'commit' ? commitSubject(c.data) : '';
}

/** Checkout problems (unsafe paths, missing objects) are user-facing failures, not crashes. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUserError(err)) throw new DeployFailure(`checkout: ${err.message}`);
    throw err;
  }
}
