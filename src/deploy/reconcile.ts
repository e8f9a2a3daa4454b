import path from 'node:path';
import type { Config } from '../config/types.ts';
import { ObjectStore } from '../git/object-store.ts';
import { moveRef } from '../git/move-ref.ts';
import { readRef, RefUpdateError, ZERO_OID } from '../git/refs.ts';
import { gitDirFor } from '../git/repo.ts';
import type { Logger } from '../lib/log.ts';
import { allocatePorts } from '../runners/ports.ts';
import { isSameProcess, signalGroup } from '../runners/proc-stat.ts';
import { UNCONFINED, type Confinement } from '../runners/confine.ts';
import type { Supervisor } from '../runners/supervisor.ts';
import { branchForRelease } from './release-config.ts';
import { currentRelease, type ReleaseStore } from './releases.ts';
import { needsPort, releaseSpecs } from './specs.ts';
import { removeTree } from '../lib/fs-util.ts';

/**
 * Makes what runs match the state and the config: at start (after a crash or kill -9 at any
 * moment) and after a config reload. Undoes half-done deploys, moves a ref to the release that
 * switched just before a kill, stops processes nothing runs any more (removed branches, releases
 * no longer current), and starts what the current releases are missing.
 */
export async function reconcile(opts: {
  config: Config;
  dataDir: string;
  supervisor: Supervisor;
  releases: ReleaseStore;
  log: Logger;
  /** branches with a deploy (or rollback, restart) under way: left exactly as they are */
  busy: (repo: string, branch: string) => boolean;
  /** how code of a repo working in a checkout runs */
  confinement: (repo: string, cwd: string) => Confinement;
}): Promise<void> {
  const { config, dataDir, supervisor, releases, log } = opts;
  const wanted = new Set<string>();
  for (const p of supervisor.list((p) => opts.busy(p.repo, p.branch))) wanted.add(p.id);
  for (const { repo, branch } of releases.all()) {
    if (opts.busy(repo, branch)) continue;
    const state = releases.load(repo, branch);
    if (state.pending) {
      log.warn('undoing an interrupted deploy', { repo, branch, release: state.pending.id });
      const hook = state.pending.hook;
      if (hook && isSameProcess(hook.pgid, hook.startTicks)) {
        log.warn('ending the build or maintenance command of the interrupted deploy', { pgid: hook.pgid });
        signalGroup(hook.pgid, 'SIGKILL');
      }
      await stopWhere(supervisor, (p) => p.repo === repo && p.branch === branch && p.release === state.pending!.id);
      removeTree(state.pending.checkout);
      removeTree(`${state.pending.checkout}.partial`);
      state.pending = null;
      releases.update(repo, branch, (s) => {
        s.pending = null;
      });
    }
    const configured = config.repos[repo]?.branches[branch];
    const current = currentRelease(state);
    if (!configured || !current) continue;
    // What runs is the release's own config; a changed config is a new release (Service.applyConfigReleases).
    const branchCfg = branchForRelease(configured, current.config);
    await followRef(dataDir, repo, branch, current.commit, log);

    const rel = { repo, branch, id: current.id, commit: current.commit, checkout: current.checkout };
    const running = new Map(supervisor.list((p) => p.repo === repo && p.branch === branch && p.release === current.id).map((p) => [`${p.runner}/${p.index}`, p]));
    const used = new Set(supervisor.list().flatMap((p) => (p.port === undefined ? [] : [p.port])));
    const missing = Object.values(branchCfg.runners).filter(needsPort).flatMap((r) => Array.from({ length: r.processCount }, (_, i) => `${r.name}/${i}`)).filter((k) => !running.has(k)).length;
    const fresh = await allocatePorts(missing, config.global.ports, used);
    const specs = releaseSpecs(dataDir, branchCfg, rel, opts.confinement(repo, rel.checkout), (runner, i) => running.get(`${runner}/${i}`)?.port ?? fresh.shift()!);
    for (const s of specs) {
      wanted.add(s.id);
      const have = supervisor.get(s.id);
      if (!have) {
        log.info('starting a missing process', { id: s.id });
        await supervisor.start(s);
      } else if (confinementKey(have.confine) !== confinementKey(s.confine)) {
        // Its user, sandbox or limits changed (or it predates them): it must not run on as it was.
        log.warn('restarting a process to run it as its config says', { id: s.id, was: have.confine?.user?.name ?? 'the gateway user', now: s.confine?.user?.name ?? 'the gateway user' });
        await supervisor.stop(s.id);
        await supervisor.start(s);
      }
    }
  }
  await stopWhere(supervisor, (p) => !wanted.has(p.id), log);
}

/** What decides how a process runs; processes recorded before confinement existed ran unconfined. */
function confinementKey(c: Confinement | undefined): string {
  const x = c ?? UNCONFINED;
  return JSON.stringify([x.mode, x.user?.uid ?? null, x.user?.gid ?? null, x.home, x.writable, x.hidden, x.limits.processes, x.limits.openFiles, x.limits.memoryBytes]);
}

async function stopWhere(supervisor: Supervisor, which: (p: { id: string; repo: string; branch: string; release: string }) => boolean, log?: Logger): Promise<void> {
  const victims = supervisor.list(which);
  for (const v of victims) log?.info('stopping a process that is no longer configured', { id: v.id });
  await Promise.all(victims.map((v) => supervisor.stop(v.id)));
}

/** The branch ref names what runs: after a kill between switch and ref update, move the ref forward. */
async function followRef(dataDir: string, repo: string, branch: string, commit: string, log: Logger): Promise<void> {
  const gitDir = gitDirFor(dataDir, repo);
  const ref = `refs/heads/${branch}`;
  const current = readRef(gitDir, ref) ?? ZERO_OID;
  if (current === commit) return;
  const store = new ObjectStore([path.join(gitDir, 'objects')]);
  try {
    if (!store.has(commit)) {
      log.error('the running release is not in the repo; the ref stays', { repo, branch, commit });
      return;
    }
  } finally {
    store.close();
  }
  try {
    await moveRef(gitDir, ref, commit, { from: current });
    log.warn('moved the branch to the release that runs', { repo, branch, from: current, to: commit });
  } catch (err) {
    if (!(err instanceof RefUpdateError)) throw err;
    log.error('could not move the branch to the release that runs', { repo, branch, error: err.message });
  }
}
