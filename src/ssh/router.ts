import type { ServerChannel } from 'ssh2';
import { allowed, roleOf } from '../service/access.ts';
import { helpText, runCommand } from '../commands/index.ts';
import { sshFingerprint } from '../config/keys.ts';
import type { Config, RepoConfig, Role } from '../config/types.ts';
import { errorId, isUserError } from '../lib/errors.ts';
import { ChannelWriter, StreamReader } from '../git/io.ts';
import { encodePkt, PktLineError } from '../git/pktline.ts';
import { serveReceivePack, type RefUpdateContext } from '../git/receive-pack.ts';
import { ZERO_OID, type RefChange } from '../git/refs.ts';
import { repack } from '../git/repack.ts';
import { gitDirFor, repoNameFromPath } from '../git/repo.ts';
import { serveUploadPack } from '../git/upload-pack.ts';
import type { Logger } from '../lib/log.ts';
import { refusePush } from '../service/push-policy.ts';
import type { Service } from '../service/service.ts';
import { parseExec, type GitService } from './exec-parse.ts';
import { type Identity, type SessionContext, type SessionHandlers } from './server.ts';

/**
 * The front door: maps verified keys to users, and routes each SSH session to built-in git,
 * a command, or the interactive view. Holds the current config; `setConfig` swaps it whole.
 */
export class Gateway implements SessionHandlers {
  private keyOwners = new Map<string, string>();

  constructor(
    private config: Config,
    readonly dataDir: string,
    private readonly service: Service,
    private readonly log: Logger,
  ) {
    this.setConfig(config);
  }

  setConfig(config: Config): void {
    this.config = config;
    this.keyOwners = new Map(config.keys.map((k) => [k.blob.toString('base64'), k.user]));
  }

  get currentConfig(): Config {
    return this.config;
  }

  identify(blob: Buffer): Identity | null {
    const user = this.keyOwners.get(blob.toString('base64'));
    if (!user || !roleOf(this.config, user)) return null;
    return { user, fingerprint: sshFingerprint(blob) };
  }

  knows(blob: Buffer): boolean {
    return this.identify(blob) !== null;
  }

  async exec(ctx: SessionContext, command: string, ch: ServerChannel): Promise<number> {
    const role = roleOf(this.config, ctx.user);
    if (!role) return this.fail(ch, 'your key is no longer authorized', 1);
    let req;
    try {
      req = parseExec(command);
    } catch (err) {
      if (isUserError(err)) return this.fail(ch, err.message, 2);
      throw err;
    }
    if (req.kind === 'git') return this.serveGit(ctx, role, req.service, req.path, ch);
    this.log.info('command', { user: ctx.user, command: req.argv[0] });
    try {
      return await runCommand(req.argv, {
        user: ctx.user,
        role,
        fingerprint: ctx.fingerprint,
        config: this.config,
        service: this.service,
        // A client gone away takes nothing more: its backlog no longer holds anything back.
        out: Object.assign((s: string) => ch.write(forTerminal(ctx, s)), { backlog: () => (ch.destroyed ? 0 : ch.writableLength) }),
        err: (s) => ch.stderr.write(forTerminal(ctx, s)),
      });
    } catch (err) {
      if (isUserError(err)) return this.fail(ch, err.message, err.exitCode);
      return this.internalError(ch, err, ctx);
    }
  }

  async shell(ctx: SessionContext, ch: ServerChannel): Promise<number> {
    ch.write(forTerminal(ctx, helpText()));
    if (ctx.pty) ch.write('The interactive dashboard is not available in this version; use the commands above.\r\n');
    return 0;
  }

  private async serveGit(ctx: SessionContext, role: Role, service: GitService, clientPath: string, ch: ServerChannel): Promise<number> {
    const refuse = async (msg: string) => {
      // ERR in place of the advertisement: git prints `fatal: remote error: <msg>`.
      ch.write(encodePkt(`ERR ${msg}\n`));
      this.log.info('git request refused', { user: ctx.user, service, path: clientPath, reason: msg });
      return 1;
    };
    let name: string;
    try {
      name = repoNameFromPath(clientPath);
    } catch (err) {
      if (isUserError(err)) return refuse(err.message);
      throw err;
    }
    const repo = this.config.repos[name];
    // A repo the user may not read is reported exactly like a missing one.
    if (!repo || !allowed(role, 'read', name)) return refuse(`repository '${name}' not found`);
    if (service === 'git-receive-pack' && !allowed(role, 'push', name)) {
      return refuse(`you (${ctx.user}) may not push to '${name}': your role is read-only`);
    }
    const gitDir = gitDirFor(this.dataDir, name);
    const reader = new StreamReader(ch);
    const writer = new ChannelWriter(ch, ch.stderr);
    const log = this.log.child(service === 'git-receive-pack' ? 'receive-pack' : 'upload-pack');
    const started = Date.now();
    try {
      if (service === 'git-upload-pack') {
        await serveUploadPack(reader, writer, { gitDir, log });
      } else {
        await serveReceivePack(reader, writer, {
          gitDir,
          maxPackBytes: this.config.global.limits.maxPackBytes,
          authorize: (change) => refusePush(change, repo, role) ?? this.busy(repo, change),
          onRefUpdate: (u) => this.onRefUpdate(u, repo, ctx.user, () => (ch.destroyed ? 0 : ch.writableLength + ch.stderr.writableLength)),
          onRefUpdateUndone: (u) => this.undoRefUpdate(u, repo, ctx.user),
          log,
        });
        // Every push adds a pack; merging them keeps lookups fast. It runs after the push answered.
        repack(gitDir).then(
          (merged) => merged && log.info('repacked', { repo: name, packs: merged }),
          (err: Error) => log.error('repack failed', { repo: name, error: err.message }),
        );
      }
      log.info('done', { user: ctx.user, repo: name, ms: Date.now() - started });
      return 0;
    } catch (err) {
      if (err instanceof PktLineError || isUserError(err)) {
        log.info('protocol error', { user: ctx.user, repo: name, error: err.message });
        writer.error(`fatal: ${err.message}`);
        return 128;
      }
      if (err instanceof Error && err.message === 'client went away') {
        log.info('client disconnected', { user: ctx.user, repo: name });
        return 1;
      }
      return this.internalError(ch, err, ctx);
    }
  }

  /** A branch that is deploying takes no second push (a clear message instead of a ref lock error). */
  private busy(repo: RepoConfig, change: RefChange): string | null {
    return change.ref.startsWith('refs/heads/') ? this.service.deployer.busy(repo.name, change.ref.slice('refs/heads/'.length)) : null;
  }

  /** Each accepted branch update deploys before the ref moves; deleting a branch stops its runners. */
  private async onRefUpdate(u: RefUpdateContext, repo: RepoConfig, user: string, backlog: () => number): Promise<string | null> {
    if (!u.change.ref.startsWith('refs/heads/')) return null;
    const branch = u.change.ref.slice('refs/heads/'.length);
    if (u.change.new === ZERO_OID) {
      await this.service.stopBranch(repo.name, branch);
      return null;
    }
    // The backlog lets the deploy drop build output the pusher cannot take as fast as it comes.
    const outcome = await this.service.deploy(repo, branch, u.change.new, user, u.store, Object.assign((t: string) => u.progress(t), { backlog }));
    return outcome.ok ? null : outcome.error;
  }

  /** Another ref of an atomic push failed after this branch deployed: its previous release comes back. */
  private async undoRefUpdate(u: RefUpdateContext, repo: RepoConfig, user: string): Promise<void> {
    if (!u.change.ref.startsWith('refs/heads/') || u.change.new === ZERO_OID) return;
    await this.service.undoDeploy(repo.name, u.change.ref.slice('refs/heads/'.length), u.change.new, user, u.progress);
  }

  private fail(ch: ServerChannel, message: string, code: number): number {
    ch.stderr.write(`${message}\n`);
    return code;
  }

  private internalError(ch: ServerChannel, err: unknown, ctx: SessionContext): number {
    const id = errorId();
    this.log.error('internal error', { id, user: ctx.user, error: err instanceof Error ? err.stack : String(err) });
    return this.fail(ch, `internal error (id ${id})`, 1);
  }
}

/**
 * With a pty (`ssh -t`) the client's terminal is raw and nothing on our side turns `\n` into
 * `\r\n` the way a kernel pty would, so output would staircase. Without one it stays as is.
 */
function forTerminal(ctx: SessionContext, text: string): string {
  return ctx.pty ? text.replace(/\r?\n/g, '\r\n') : text;
}
