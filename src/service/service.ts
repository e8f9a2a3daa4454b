import path from 'node:path';
import type { Config, RepoConfig } from '../config/types.ts';
import { Deployer, type DeployOutcome } from '../deploy/deployer.ts';
import { appEnv } from '../deploy/env.ts';
import { describeExit, runShell } from '../deploy/hooks.ts';
import { reconcile } from '../deploy/reconcile.ts';
import { currentRelease, ReleaseStore, type BranchState } from '../deploy/releases.ts';
import type { Pusher } from '../deploy/report.ts';
import { releaseSpecs } from '../deploy/specs.ts';
import { UserError } from '../lib/errors.ts';
import { listDir, removeTree } from '../lib/fs-util.ts';
import { ObjectStore } from '../git/object-store.ts';
import { readRef, RefTransaction, RefUpdateError, ZERO_OID } from '../git/refs.ts';
import { gitDirFor } from '../git/repo.ts';
import type { Logger } from '../lib/log.ts';
import type { Isolator } from '../runners/isolation.ts';
import type { ProcessStatus, Supervisor } from '../runners/supervisor.ts';

const CUSTOM_CMD_TIMEOUT_MS = 60 * 60_000;

/**
 * The one service every front end (git push, ssh commands, later the dashboard) goes through
 * for deploy state and operations. Role checks happen in the callers, through `access.ts`.
 */
export class Service {
  readonly releases: ReleaseStore;
  readonly deployer: Deployer;

  constructor(
    private config: Config,
    readonly dataDir: string,
    readonly supervisor: Supervisor,
    private readonly log: Logger,
    readonly isolator: Isolator,
  ) {
    this.releases = new ReleaseStore(dataDir);
    this.deployer = new Deployer({
      dataDir,
      config: () => this.config,
      supervisor,
      releases: this.releases,
      log: log.child('deploy'),
      isolator,
      // nginx arrives with the domains issue; the deploy already calls this at the switch point.
      switchTraffic: async () => {},
    });
  }

  get currentConfig(): Config {
    return this.config;
  }

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
  }

  async setConfig(config: Config): Promise<void> {
    this.config = config;
    await this.reconcile();
  }

  repo(name: string): RepoConfig {
    const repo = this.config.repos[name];
    if (!repo) throw new UserError(`unknown repo '${name}' (configured: ${Object.keys(this.config.repos).sort().join(', ') || 'none'})`);
    return repo;
  }

  branch(repoName: string, branch: string) {
    const repo = this.repo(repoName);
    const b = repo.branches[branch];
    if (!b) throw new UserError(`branch '${branch}' is not configured for repo '${repoName}' (configured: ${Object.keys(repo.branches).join(', ')})`);
    return b;
  }

  branchState(repo: string, branch: string): BranchState {
    return this.releases.load(repo, branch);
  }

  processes(repo: string, branch: string): ProcessStatus[] {
    return this.supervisor.list((p) => p.repo === repo && p.branch === branch);
  }

  /** A push's deploy (called before the ref moves). */
  deploy(repo: RepoConfig, branch: string, commit: string, user: string, store: ObjectStore, out: Pusher): Promise<DeployOutcome> {
    return this.deployer.deploy({ repo, branch, commit, user, store, out });
  }

  /**
   * Takes back a deploy whose ref will not move after all (another ref of an atomic push failed):
   * the previous release runs again, or nothing when there was none; the undone release is forgotten.
   */
  async undoDeploy(repo: string, branch: string, commit: string, user: string, out: (text: string) => void): Promise<void> {
    const state = this.releases.load(repo, branch);
    const undone = currentRelease(state);
    if (!undone || undone.commit !== commit) return;
    const idx = state.releases.findIndex((r) => r.id === undone.id);
    const previous = idx > 0 ? state.releases[idx - 1]! : null;
    out(`atomic push failed: taking back release ${undone.id} of ${repo}/${branch}\n`);
    if (previous) await this.deployer.activate(repo, branch, previous, out, user);
    else await this.stopBranch(repo, branch);
    const after = this.releases.load(repo, branch);
    after.releases = after.releases.filter((r) => r.id !== undone.id);
    this.releases.save(repo, branch, after);
    removeTree(undone.checkout);
  }

  /** The branch ref was deleted: stop its runners, keep its releases for a later push or rollback. */
  async stopBranch(repo: string, branch: string): Promise<void> {
    const state = this.releases.load(repo, branch);
    state.current = null;
    this.releases.save(repo, branch, state);
    await this.deployer.stopRelease(repo, branch, () => true);
    this.log.info('branch deleted: runners stopped', { repo, branch });
  }

  /** Deploys the branch's current commit again, as a new release. */
  async rebuild(repoName: string, branch: string, user: string, out: Pusher): Promise<DeployOutcome> {
    const repo = this.repo(repoName);
    this.branch(repoName, branch);
    const gitDir = gitDirFor(this.dataDir, repoName);
    const commit = readRef(gitDir, `refs/heads/${branch}`);
    if (!commit) throw new UserError(`${repoName}/${branch} has never been pushed; nothing to rebuild`);
    const store = new ObjectStore([path.join(gitDir, 'objects')]);
    try {
      return await this.deploy(repo, branch, commit, user, store, out);
    } finally {
      store.close();
    }
  }

  /** Switches to a kept release without rebuilding and moves the branch ref to its commit. */
  async rollback(repoName: string, branch: string, releaseId: string | undefined, user: string, out: (text: string) => void): Promise<string> {
    this.branch(repoName, branch);
    const r = await this.deployer.exclusive(repoName, branch, user, 'rollback', async () => {
      const state = this.releases.load(repoName, branch);
      const current = currentRelease(state);
      const idx = state.releases.findIndex((x) => x.id === state.current);
      const target = releaseId ? state.releases.find((x) => x.id === releaseId) : idx > 0 ? state.releases[idx - 1] : undefined;
      const kept = state.releases.map((x) => x.id).join(', ') || 'none';
      if (!target) throw new UserError(releaseId ? `no kept release '${releaseId}' for ${repoName}/${branch} (kept: ${kept})` : `${repoName}/${branch} has no earlier release to roll back to (kept: ${kept})`);
      if (target.id === current?.id) throw new UserError(`${target.id} is already the current release of ${repoName}/${branch}`);
      const gitDir = gitDirFor(this.dataDir, repoName);
      const ref = `refs/heads/${branch}`;
      const tx = new RefTransaction(gitDir);
      try {
        tx.lock({ ref, old: readRef(gitDir, ref) ?? ZERO_OID, new: target.commit });
      } catch (err) {
        if (err instanceof RefUpdateError) throw new UserError(`cannot move ${ref}: ${err.message}`);
        throw err;
      }
      try {
        const summary = await this.deployer.activate(repoName, branch, target, out, user);
        tx.commit();
        return summary;
      } catch (err) {
        tx.abort();
        throw err;
      }
    });
    if (typeof r === 'object' && 'busy' in r) throw new UserError(r.busy);
    return r;
  }

  /** Stops and starts the current release's processes (same ports, current config), one at a time. */
  async restart(repoName: string, branch: string, user: string, out: (text: string) => void): Promise<number> {
    const branchCfg = this.branch(repoName, branch);
    const r = await this.deployer.exclusive(repoName, branch, user, 'restart', async () => {
      const state = this.releases.load(repoName, branch);
      const current = currentRelease(state);
      if (!current) {
        out(`${repoName}/${branch}: not deployed, nothing to restart\n`);
        return 0;
      }
      const running = this.processes(repoName, branch).filter((p) => p.release === current.id);
      const specs = releaseSpecs(this.dataDir, branchCfg, { repo: repoName, branch, id: current.id, commit: current.commit, checkout: current.checkout }, this.deployer.confinement(repoName, current.checkout), (runner, i) => {
        const port = running.find((p) => p.runner === runner && p.index === i)?.port;
        if (port === undefined) throw new UserError(`${repoName}/${branch}: ${runner}.${i} is not running; use rebuild`);
        return port;
      });
      for (const s of specs) {
        await this.supervisor.stop(s.id);
        await this.supervisor.start(s);
      }
      out(`${repoName}/${branch}: restarted ${specs.length} process${specs.length === 1 ? '' : 'es'} of ${current.id}\n`);
      this.log.info('restarted', { repo: repoName, branch, user, processes: specs.length });
      return specs.length;
    });
    if (typeof r === 'object') throw new UserError(r.busy);
    return r;
  }

  /** Runs a branch's configured custom command in its current checkout; resolves to its exit code. */
  async customCmd(repoName: string, branch: string, name: string, out: Pusher): Promise<number> {
    const branchCfg = this.branch(repoName, branch);
    const cmd = branchCfg.customCmds[name];
    if (cmd === undefined) {
      const known = Object.keys(branchCfg.customCmds).join(', ') || 'none configured';
      throw new UserError(`no custom command '${name}' for ${repoName}/${branch} (known: ${known})`);
    }
    const current = currentRelease(this.releases.load(repoName, branch));
    if (!current) throw new UserError(`${repoName}/${branch} is not deployed; custom commands run in the current checkout`);
    const confine = this.deployer.confinement(repoName, current.checkout);
    const env = appEnv(branchCfg, { repo: repoName, branch, release: current.id, commit: current.commit }, undefined, confine);
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
}
