import type { ProcessSpec } from '../runners/supervisor.ts';
import { openReport, sleep, type DeployerOptions } from './context.ts';
import { appEnv } from './env.ts';
import { DeployFailure } from './failure.ts';
import { prune } from './prune.ts';
import { branchForRelease, configDigest, type ReleaseConfig } from './release-config.ts';
import { startRelease, stopRelease } from './release-processes.ts';
import type { Release } from './releases.ts';
import { seconds } from './report.ts';
import { describeRunning } from './specs.ts';
import { drainSeconds, switchTraffic } from './traffic.ts';

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

/**
 * A new release of a kept checkout, without a build: a config change of a deployed branch, or a
 * rollback. The same order as a deploy: start on fresh ports → healthy → switch → drain → stop
 * the old processes. If anything fails before the switch, the old release keeps serving.
 * Callers hold the branch's lock.
 */
export async function rollout(opts: DeployerOptions, req: RolloutRequest): Promise<{ release: Release; summary: string; urls: string[] }> {
  const { releases, log } = opts;
  const { repo, branch: branchName, base } = req;
  const branch = branchForRelease(opts.config().repos[repo]!.branches[branchName]!, req.config);
  const started = Date.now();
  // No pending record: the checkout is shared and must never be removed by an undo. Processes
  // of a release that never became current are stopped by the next reconcile.
  const id = req.kind === 'restore' ? base.id : releases.update(repo, branchName, (state) => `r${++state.seq}`);
  const what = req.kind === 'restore' ? 'restored' : req.kind === 'rollback' ? `rollback to ${base.id}` : `config: ${req.changes?.join(', ') || 'unchanged'}`;
  const env = appEnv(branch, { repo, branch: branchName, release: id, commit: base.commit });
  const where = { repo, branch: branchName, release: id };
  opts.onEvent({ type: 'deploy-started', ...where, commit: base.commit, user: req.user });
  const report = openReport(opts, req.out, where, env);
  try {
    report.step('Start', `release ${id} (${what}) of ${base.commit.slice(0, 12)}`);
    let specs: ProcessSpec[];
    try {
      specs = await startRelease(opts, branch, { repo, branch: branchName, id, commit: base.commit, checkout: base.checkout }, report);
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
      urls = await switchTraffic(opts, repo, branchName);
    } catch (err) {
      releases.update(repo, branchName, (back) => {
        if (req.kind !== 'restore') back.releases = back.releases.filter((r) => r.id !== id);
        back.current = before.current;
        back.applied = before.applied;
      });
      report.fail((err as Error).message);
      await stopRelease(opts, repo, branchName, (p) => p.release === id);
      throw err;
    }
    report.done();
    const drain = urls.length && before.current ? drainSeconds(opts.config(), branch) : 0;
    report.step('Stop', before.current ? `release ${before.current}${drain ? ` after ${drain} s for its requests to finish` : ''}` : '');
    await sleep(drain * 1000);
    await stopRelease(opts, repo, branchName, (p) => p.release !== id);
    report.done();
    prune(releases, repo, branchName, branch);
    const summary = `${repo}/${branchName} ${base.commit.slice(0, 8)}: ${describeRunning(branch, specs)} (${seconds(Date.now() - started)})`;
    report.line(summary);
    if (urls.length) report.line(`live at ${urls.join(' ')}`);
    log.info(req.kind === 'rollback' ? 'rolled back' : 'config release', { repo, branch: branchName, release: id, of: base.id, user: req.user, changes: req.changes?.join(',') });
    opts.onEvent({ type: 'deploy-finished', ...where, ok: true, ms: Date.now() - started });
    return { release, summary, urls };
  } catch (err) {
    const error = (err as Error).message;
    opts.onEvent({ type: 'deploy-finished', ...where, ok: false, error, ms: Date.now() - started });
    throw err;
  } finally {
    report.close();
  }
}
