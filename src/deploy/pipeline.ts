import fs from 'node:fs';
import path from 'node:path';
import type { BranchConfig, RepoConfig } from '../config/types.ts';
import { isUserError, reportInternal } from '../lib/errors.ts';
import { removeTree } from '../lib/fs-util.ts';
import { count } from '../lib/plural.ts';
import type { ObjectStore } from '../git/object-store.ts';
import { commitSubject, parseCommit, parseTree } from '../git/objects.ts';
import type { ProcessSpec } from '../runners/supervisor.ts';
import { build, hook } from './build-hooks.ts';
import { exportCommit } from './checkout.ts';
import { confinement, openReport, sleep, type DeployerOptions } from './context.ts';
import { appEnv } from './env.ts';
import { DeployFailure } from './failure.ts';
import { prune } from './prune.ts';
import { branchForRelease, configDigest, releaseConfigOf } from './release-config.ts';
import { startRelease, stopRelease } from './release-processes.ts';
import { currentRelease, type Release } from './releases.ts';
import { seconds, type Pusher } from './report.ts';
import { describeRunning, processRunners, type ReleaseRef } from './specs.ts';
import { drainSeconds, switchTraffic } from './traffic.ts';

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

/** `release` is null for a branch with nothing to run or build: the push only moves the ref. */
export type DeployOutcome = { ok: true; release: Release | null; summary: string } | { ok: false; error: string };

/**
 * A pushed commit as a new release: checkout, build, (maintenance,) start, health, switch, stop
 * the old release. On failure the new release's processes and checkout go and the old release
 * keeps (or, after maintenance stopped it, again) running. The caller holds the branch's lock.
 */
export async function deployCommit(opts: DeployerOptions, req: DeployRequest): Promise<DeployOutcome> {
  const { releases, log } = opts;
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
  const confine = confinement(opts, repo, checkout);
  const env = appEnv(branch, { repo, branch: req.branch, release: id, commit: req.commit }, undefined, confine);
  const where = { repo, branch: req.branch, release: id };
  opts.onEvent({ type: 'deploy-started', ...where, commit: req.commit, user: req.user });
  const report = openReport(opts, req.out, where, env);
  let oldStopped = false;
  let started_: ProcessSpec[] = [];
  try {
    report.step('Checkout', `${req.commit.slice(0, 12)} of ${repo}/${req.branch} as release ${id}`);
    // 0711: an app user passes through to its own checkout but lists nobody's.
    fs.mkdirSync(path.dirname(checkout), { recursive: true, mode: 0o711 });
    const exported = await guard(() => exportCommit(req.store, req.commit, checkout, opts.config().global.limits));
    opts.isolator.own(confine, checkout);
    for (const s of exported.submodules) report.warn(`submodule '${s}' is not fetched: slipway deploys the repo's own files only`);
    for (const l of exported.outsideLinks) report.warn(`symlink ${l} points outside the checkout: not written`);
    report.done(count(exported.files, 'file'));

    const hookCtx = { repo, branch: req.branch, confine, timeoutMs: req.repo.limits.buildTimeoutMs };
    await build(opts, branch, checkout, env, report, hookCtx);

    if (branch.hooks.maintenance.length && old) {
      report.step('Maintenance', `stopping release ${old.id}`);
      await stopRelease(opts, repo, req.branch, (p) => p.release === old.id);
      oldStopped = true;
      await switchTraffic(opts, repo, req.branch);
      for (const cmd of branch.hooks.maintenance) await hook(opts, 'maintenance', cmd, checkout, env, report, hookCtx);
      report.done();
    } else if (branch.hooks.maintenance.length) {
      report.step('Maintenance', '(first deploy: nothing to stop)');
      for (const cmd of branch.hooks.maintenance) await hook(opts, 'maintenance', cmd, checkout, env, report, hookCtx);
      report.done();
    }

    report.step('Start', describeStart(branch));
    started_ = await startRelease(opts, branch, rel, report);
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
      urls = await switchTraffic(opts, repo, req.branch);
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
      const drain = urls.length ? drainSeconds(opts.config(), branch) : 0;
      report.step('Stop', `release ${old.id}${drain ? ` after ${drain} s for its requests to finish` : ''}`);
      await sleep(drain * 1000);
      await stopRelease(opts, repo, req.branch, (p) => p.release !== id);
      report.done();
    } else {
      await stopRelease(opts, repo, req.branch, (p) => p.release !== id);
    }
    prune(releases, repo, req.branch, branch);

    const summary = `${repo}/${req.branch} ${req.commit.slice(0, 8)}: ${describeRunning(branch, started_)} (${seconds(Date.now() - started)})`;
    report.line(summary);
    if (urls.length) report.line(`live at ${urls.join(' ')}`);
    const steps = Object.fromEntries(Object.entries(report.durations).map(([k, v]) => [`${k}_ms`, v]));
    log.info('deployed', { repo, branch: req.branch, release: id, commit: req.commit, user: req.user, ms: Date.now() - started, ...steps });
    opts.onEvent({ type: 'deploy-finished', ...where, ok: true, ms: Date.now() - started });
    return { ok: true, release, summary };
  } catch (err) {
    const reason = err instanceof DeployFailure ? err.message : reportInternal(log, err, { repo, branch: req.branch, release: id });
    report.fail(reason, err instanceof DeployFailure ? err.details : []);
    const failedStep = report.currentStep.toLowerCase();
    await stopRelease(opts, repo, req.branch, (p) => p.release === id);
    if (oldStopped && old) {
      report.step('Restore', `release ${old.id}`);
      try {
        await startRelease(opts, branchForRelease(branch, old.config), { repo, branch: req.branch, id: old.id, commit: old.commit, checkout: old.checkout }, report);
        await switchTraffic(opts, repo, req.branch);
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
    opts.onEvent({ type: 'deploy-finished', ...where, ok: false, error, ms: Date.now() - started });
    return { ok: false, error };
  } finally {
    report.close();
  }
}

/**
 * A branch without runners, maintenance or build is a plain git branch: exporting its files would
 * only cost time. pyPaaS's default build (`./.build.sh`) counts when the commit has one.
 */
export function nothingToDeploy(branch: BranchConfig, store: ObjectStore, commit: string): boolean {
  if (Object.keys(branch.runners).length > 0 || branch.hooks.maintenance.length > 0) return false;
  if (branch.hooks.build !== null) return branch.hooks.build.length === 0;
  const c = store.read(commit);
  const tree = c?.type === 'commit' ? store.read(parseCommit(c.data).tree) : null;
  return tree?.type === 'tree' && !parseTree(tree.data).some((e) => e.name === '.build.sh');
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
