import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config, ConfigProblem, GlobalConfig, IsolationMode, RepoConfig } from '../config/types.ts';
import type { Logger } from '../lib/log.ts';
import { closeDataDir } from '../lib/private-files.ts';
import { defaultAppUser, ensureUser, type AppUser } from './app-users.ts';
import { confinedArgv, type Confinement } from './confine.ts';

/** What this machine allows: only root can give repos users of their own; bwrap may or may not work. */
export interface IsolationFacts {
  root: boolean;
  /** the gateway's own user, for messages */
  gatewayUser: string;
  /** bwrap ran a command as an unprivileged user in a sandbox of its own */
  sandbox: boolean;
  /** why not, when it does not */
  sandboxProblem?: string;
}

export function detectIsolation(): IsolationFacts {
  const root = process.getuid?.() === 0;
  const gatewayUser = os.userInfo().username;
  if (!root) return { root, gatewayUser, sandbox: false, sandboxProblem: 'slipway is not root' };
  const probe: Confinement = {
    mode: 'sandbox',
    user: { name: 'nobody', uid: 65534, gid: 65534 },
    home: '/',
    writable: [],
    hidden: [],
    limits: { processes: null, openFiles: 0, memoryBytes: 0 },
  };
  const argv = confinedArgv(probe, ['/bin/true'], '/');
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0) return { root, gatewayUser, sandbox: true };
  const why = r.error ? (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'bwrap is not installed (Debian package bubblewrap)' : r.error.message : r.stderr.trim().split('\n')[0] || `bwrap exited ${r.status}`;
  return { root, gatewayUser, sandbox: false, sandboxProblem: why };
}

/**
 * Decides how each repo's code runs and prepares what that needs: the repo's system user, its
 * data folder (`<data>/apps/<repo>`, its HOME), and a data dir whose gateway parts (repos,
 * state, logs, host keys) only the gateway can read.
 */
export class Isolator {
  private users = new Map<string, AppUser>();
  /** what the sandbox covers: the data dir (or the first ancestor others cannot search), and the config dir */
  private readonly hidden: string[];
  /** the first ancestor of the data dir that other users cannot search, if any */
  private readonly closedAncestor: string | null;

  constructor(
    readonly facts: IsolationFacts,
    private readonly dataDir: string,
    configDir: string,
    private readonly log: Logger,
  ) {
    this.closedAncestor = closedAncestor(dataDir);
    this.configDir = path.resolve(configDir);
    const top = this.closedAncestor ?? dataDir;
    this.hidden = [top];
    if (!isInside(this.configDir, top)) this.hidden.push(this.configDir);
  }

  private readonly configDir: string;

  /** `isolation` of the repo, else of slipway.yml, else the strongest that works here. */
  mode(repo: RepoConfig, global: GlobalConfig): IsolationMode {
    const wanted = repo.isolation ?? global.isolation;
    if (wanted) return wanted;
    if (!this.facts.root) return 'none';
    return this.facts.sandbox ? 'sandbox' : 'user';
  }

  /**
   * What this machine cannot do of what the config asks. Not root: no repo can have a user of
   * its own, so a deploy role would be a shell as the gateway's user; that is refused unless
   * `isolation: none` says the operator accepts it.
   */
  problems(config: Config): ConfigProblem[] {
    const out: ConfigProblem[] = [];
    const { facts } = this;
    const main = config.mainFile;
    const need = (mode: IsolationMode | undefined, file: string) => {
      if (mode === 'user' || mode === 'sandbox') {
        if (!facts.root) out.push({ file, path: 'isolation', message: `'${mode}' needs slipway to run as root (it runs as ${facts.gatewayUser}; expected isolation: none, or start slipway as root)` });
        else if (mode === 'sandbox' && !facts.sandbox) out.push({ file, path: 'isolation', message: `'sandbox' does not work here: ${facts.sandboxProblem} (expected isolation: user, or install bubblewrap)` });
      }
    };
    need(config.global.isolation, main);
    for (const repo of Object.values(config.repos)) need(repo.isolation, repo.file);
    // Without a sandbox an app reaches its checkout and HOME through the real path.
    const plain = Object.values(config.repos).find((r) => facts.root && this.mode(r, config.global) === 'user');
    if (plain && this.closedAncestor) {
      const why = plain.isolation || config.global.isolation ? "'user'" : `no sandbox here (${facts.sandboxProblem}), so repos run with isolation 'user', and`;
      out.push({ file: plain.isolation ? plain.file : main, path: 'isolation', message: `${why} app users cannot reach ${this.dataDir} because ${this.closedAncestor} is not searchable by others (chmod o+x ${this.closedAncestor}, use a data dir elsewhere, or install bubblewrap)` });
    }
    if (!facts.root && config.global.users) {
      for (const [user, role] of Object.entries(config.global.users)) {
        if (role.kind !== 'deploy') continue;
        const exposed = role.repos.filter((r) => config.repos[r] && (config.repos[r]!.isolation ?? config.global.isolation) !== 'none');
        if (exposed.length === 0) continue;
        out.push({
          file: main,
          path: `users.${user}`,
          message: `a deploy role would be a shell as ${facts.gatewayUser}: slipway is not root, so the code ${user} pushes to ${exposed.join(', ')} cannot run as a user of its own (expected: run slipway as root, or isolation: none to accept this)`,
        });
      }
    }
    return out;
  }

  /** Creates the repos' users and data folders and closes the gateway's folders. Throws a sentence on failure. */
  prepare(config: Config): void {
    closeDataDir(this.dataDir, this.facts.root);
    if (!this.facts.root) return;
    // The config dir holds every app's env: app users must not even pass through it.
    const mode = fs.statSync(this.configDir).mode & 0o777;
    if (mode & 0o007) {
      fs.chmodSync(this.configDir, mode & ~0o007);
      this.log.warn('closed the config dir to other users: it holds the apps\' env', { dir: this.configDir, mode: (mode & ~0o007).toString(8) });
    }
    const users = new Map<string, AppUser>();
    for (const repo of Object.values(config.repos)) {
      if (this.mode(repo, config.global) === 'none') continue;
      const user = ensureUser(repo.runAs ?? defaultAppUser(repo.name));
      const home = this.homeOf(repo.name);
      fs.mkdirSync(path.dirname(home), { recursive: true, mode: 0o711 });
      fs.mkdirSync(home, { recursive: true, mode: 0o700 });
      const st = fs.lstatSync(home);
      if (!st.isDirectory()) throw new Error(`${home} is not a directory`);
      if (st.uid !== user.uid || st.gid !== user.gid) fs.lchownSync(home, user.uid, user.gid);
      fs.chmodSync(home, 0o700);
      if (!this.users.has(repo.name)) this.log.info('repo runs as its own user', { repo: repo.name, user: user.name, uid: user.uid, mode: this.mode(repo, config.global) });
      users.set(repo.name, user);
    }
    this.users = users;
  }

  homeOf(repo: string): string {
    return path.join(this.dataDir, 'apps', repo);
  }

  /** How a command of `repo` that works in `cwd` (its checkout) is confined. */
  confinement(repo: RepoConfig, global: GlobalConfig, cwd: string): Confinement {
    const mode = this.mode(repo, global);
    const limits = { openFiles: repo.limits.openFiles, memoryBytes: repo.limits.memoryBytes };
    const user = mode === 'none' ? undefined : this.users.get(repo.name);
    if (!user) return { mode: 'none', user: null, home: '', writable: [], hidden: [], limits: { ...limits, processes: null } };
    const home = this.homeOf(repo.name);
    return { mode, user: { ...user }, home, writable: [cwd, home], hidden: mode === 'sandbox' ? [...this.hidden] : [], limits: { ...limits, processes: repo.limits.processes } };
  }

  /**
   * Gives a fresh checkout (written by the gateway) to the repo's user. Bottom up, the top last:
   * until then the user cannot enter it, so it cannot swap a folder for a symlink under our feet.
   */
  own(c: Confinement, dir: string): void {
    if (!c.user) return;
    const { uid, gid } = c.user;
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        fs.lchownSync(p, uid, gid);
      }
    };
    const top = fs.lstatSync(dir);
    if (top.uid === uid && top.gid === gid) return;
    walk(dir);
    fs.lchownSync(dir, uid, gid);
    // 0711, not 0700: nginx's workers (another user) serve NginxStatic folders from it by name.
    fs.chmodSync(dir, 0o711);
  }
}

/** The first folder above `dir` that other users cannot search (no o+x), or null. */
function closedAncestor(dir: string): string | null {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const p = path.sep + parts.slice(0, i).join(path.sep);
    try {
      if ((fs.statSync(p).mode & 0o001) === 0) return p;
    } catch {
      return null;
    }
  }
  return null;
}

function isInside(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
