import type { ServerChannel } from 'ssh2';
import { helpText, runCommand } from '../commands/index.ts';
import { ChannelWriter, StreamReader } from '../git/io.ts';
import { encodePkt, PktLineError } from '../git/pktline.ts';
import { LimitError } from '../git/push-limits.ts';
import { serveReceivePack } from '../git/receive-pack.ts';
import { repoNameFromPath } from '../git/repo.ts';
import { serveUploadArchive } from '../git/upload-archive.ts';
import { serveUploadPack } from '../git/upload-pack.ts';
import { ClientGoneError, isUserError, reportInternal, UserError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { Service } from '../service/service.ts';
import { printable } from '../lib/text.ts';
import type { Actor, AuditSubject } from '../service/audit.ts';
import { formatLogLine } from '../service/logs.ts';
import { runDashboard } from '../tui/session.ts';
import { retime, takeSnapshot, UsageSampler } from '../tui/snapshot.ts';
import { parseExec, type ExecRequest, type GitService } from './exec-parse.ts';
import type { Identity, SessionContext, SessionHandlers } from './server.ts';

/** Lines of the selected runner's log shown when the dashboard starts following it. */
const LOG_PANE_TAIL = 200;

/** How a refusal reaches the client at this point of a session, and the exit status it ends with. */
type Answer = (message: string) => number;

/** What the front door's one catch needs to know about where the session got to. */
interface Session {
  answer: Answer;
  log: Logger;
}

/**
 * The session router: routes each SSH session to built-in git, a command, or the interactive
 * view. It is the front door of the refusal convention: anything refused is thrown as a
 * UserError and caught here, once, and worded for the channel.
 */
export class Router implements SessionHandlers {
  constructor(
    private readonly service: Service,
    private readonly log: Logger,
  ) {}

  identify(blob: Buffer): Identity | null {
    return this.service.identify(blob);
  }

  knows(blob: Buffer): boolean {
    return this.identify(blob) !== null;
  }

  async exec(ctx: SessionContext, command: string, ch: ServerChannel): Promise<number> {
    const session: Session = { answer: (msg) => this.line(ch, msg, 1), log: this.log };
    // A string that does not parse is still audited, as an `exec` over ssh.
    let req: ExecRequest | UserError;
    try {
      req = parseExec(command);
    } catch (err) {
      if (!isUserError(err)) throw err;
      req = err;
    }
    const { via, action } = auditName(req);
    const actor: Actor = { user: ctx.user, fingerprint: ctx.fingerprint, address: ctx.remote, via };
    const subject: AuditSubject = { action };
    try {
      return await this.service.audited(
        actor,
        subject,
        async () => {
          if (req instanceof UserError) throw req;
          const role = this.service.role(ctx.user);
          if (!role) throw new UserError('your key is no longer authorized');
          if (req.kind === 'git') return await this.serveGit(ctx, req.service, req.path, ch, session, subject);
          this.log.info('command', { user: ctx.user, command: subject.action });
          // Not 'end': a client whose stdin is done (`ssh host logs -f </dev/null`) still reads.
          const closed = new AbortController();
          ch.once('close', () => closed.abort());
          // Commands read no input. Draining it lets ssh2 report the close: it waits for the input's end first.
          ch.resume();
          return await runCommand(req.argv, subject, {
            closed: closed.signal,
            holdOpen: ctx.holdOpen,
            actor,
            user: ctx.user,
            role,
            fingerprint: ctx.fingerprint,
            service: this.service,
            tty: ctx.pty !== null,
            // A client gone away takes nothing more: its backlog no longer holds anything back.
            out: Object.assign((s: string) => ch.write(forTerminal(ctx, s)), { backlog: () => (ch.destroyed ? 0 : ch.writableLength) }),
            err: (s) => ch.stderr.write(forTerminal(ctx, s)),
          });
        },
        // A push's outcome is its refs'; a command's is its exit status.
        via === 'git' ? undefined : (code) => code,
      );
    } catch (err) {
      if (isUserError(err)) return this.answer(session.answer, err);
      if (err instanceof ClientGoneError) {
        session.log.info('client disconnected', { user: ctx.user });
        return 1;
      }
      return this.line(ch, reportInternal(this.log, err, { user: ctx.user }), 1);
    }
  }

  /** `ssh -t host`: the dashboard; without a pty there is no screen to draw on, so the help. */
  async shell(ctx: SessionContext, ch: ServerChannel): Promise<number> {
    const role = this.service.role(ctx.user);
    if (!ctx.pty || !role) {
      ch.write(forTerminal(ctx, helpText()));
      return 0;
    }
    this.log.info('dashboard opened', { user: ctx.user });
    const log = this.log.child('tui');
    const sampler = new UsageSampler();
    const actor: Actor = { user: ctx.user, fingerprint: ctx.fingerprint, address: ctx.remote, via: 'tui' };
    const closed = new AbortController();
    ch.once('close', () => closed.abort());
    // The dashboard is fed by the server: it is not idle while it is open.
    const release = ctx.holdOpen();
    let code: number;
    try {
      code = await runDashboard({
        channel: {
          write: (d) => ch.write(d),
          onData: (fn) => ch.on('data', fn),
          onClose: (fn) => ch.once('close', fn),
          onResize: ctx.onResize,
          get destroyed() {
            return ch.destroyed;
          },
        },
        cols: ctx.pty.cols,
        rows: ctx.pty.rows,
        user: ctx.user,
        snapshot: (focus) => takeSnapshot(this.service, ctx.user, sampler, focus),
        retime: (snap, focus) => retime(snap, sampler, focus),
        subscribe: (fn) => this.service.events.on(fn),
        // Actions are ssh commands: the same arguments, access decision, refusals and audit.
        run: (argv, out) => {
          const subject: AuditSubject = { action: printable(argv[0] ?? 'help', 64) };
          return this.service
            .audited(
              actor,
              subject,
              () =>
                runCommand(argv, subject, {
                  actor,
                  user: ctx.user,
                  role: this.service.role(ctx.user) ?? role,
                  fingerprint: ctx.fingerprint,
                  service: this.service,
                  tty: false,
                  closed: closed.signal,
                  holdOpen: ctx.holdOpen,
                  out: Object.assign((t: string) => out(t), { backlog: () => 0 }),
                  err: out,
                }),
              (c) => c,
            )
            .catch((err: unknown) => {
              if (isUserError(err)) {
                out(`${err.message}\n`);
                return err.exitCode;
              }
              out(`${reportInternal(log, err, { user: ctx.user })}\n`);
              return 1;
            });
        },
        // The log pane follows through the service's one log follower (the `logs -f` command's).
        logs: (target, line) => {
          try {
            return this.service.followLogs(ctx.user, { ...target, lines: LOG_PANE_TAIL }, (lines) => {
              for (const l of lines) line(formatLogLine(l));
            });
          } catch (err) {
            if (!isUserError(err)) throw err;
            line(`slipway | ${err.message}`);
            return () => {};
          }
        },
        log,
      });
    } finally {
      release();
    }
    this.log.info('dashboard closed', { user: ctx.user });
    return code;
  }

  /** A refusal's own exit status (2 usage, 127 unknown command, 128 protocol) wins over the channel's default. */
  private answer(answer: Answer, err: UserError): number {
    const code = answer(err.message);
    return err.exitCode === 1 ? code : err.exitCode;
  }

  private async serveGit(ctx: SessionContext, service: GitService, clientPath: string, ch: ServerChannel, session: Session, subject: AuditSubject): Promise<number> {
    // Before the advertisement a refusal is an ERR packet: git prints `fatal: remote error: <msg>`.
    session.answer = (msg) => {
      ch.write(encodePkt(`ERR ${msg}\n`));
      this.log.info('git request refused', { user: ctx.user, service, path: clientPath, reason: msg });
      return 1;
    };
    const name = repoNameFromPath(clientPath);
    subject.repo = name;
    this.service.requireAccess(ctx.user, service === 'git-receive-pack' ? 'push' : 'read', name);
    const gitDir = this.service.gitDir(name);
    const reader = new StreamReader(ch);
    const writer = new ChannelWriter(ch, ch.stderr);
    const log = this.log.child(service.slice('git-'.length));
    session.log = log;
    // Once git talks, a refusal is a fatal line on the side channel and the protocol's exit status.
    session.answer = (msg) => {
      log.info('protocol error', { user: ctx.user, repo: name, error: msg });
      writer.error(`fatal: ${msg}`);
      return 128;
    };
    const started = Date.now();
    try {
      if (service === 'git-upload-pack') {
        await serveUploadPack(reader, writer, { gitDir, log, protocol: ctx.env.GIT_PROTOCOL });
      } else if (service === 'git-upload-archive') {
        await serveUploadArchive(reader, writer, { gitDir, log });
      } else {
        const refs = await serveReceivePack(reader, writer, {
          gitDir,
          protocol: ctx.env.GIT_PROTOCOL,
          maxPackBytes: this.service.limits.maxPackBytes,
          limits: this.service.limits,
          // The backlog lets the deploy drop build output the pusher cannot take as fast as it comes.
          ...this.service.pushHooks(ctx.user, name, () => (ch.destroyed ? 0 : ch.writableLength + ch.stderr.writableLength)),
          log,
        });
        subject.refs = refs.map((r) => ({ ref: printable(r.ref), old: r.old, new: r.new, ...(r.error ? { error: printable(r.error) } : {}) }));
        this.service.pushed(name);
      }
    } catch (err) {
      // The wire parser's errors are the client's doing, like any other refusal.
      if (err instanceof PktLineError || err instanceof LimitError) throw new UserError(err.message, 128, 'protocol');
      throw err;
    }
    log.info('done', { user: ctx.user, repo: name, ms: Date.now() - started });
    return 0;
  }

  private line(ch: ServerChannel, message: string, code: number): number {
    ch.stderr.write(`${message}\n`);
    return code;
  }
}

/** What the audit log calls a request (`push`, `fetch`, the command's name, `exec` when it did not parse) and where it came in. */
function auditName(req: ExecRequest | UserError): { via: Actor['via']; action: string } {
  if (req instanceof UserError) return { via: 'ssh', action: 'exec' };
  if (req.kind === 'git') return { via: 'git', action: req.service === 'git-receive-pack' ? 'push' : req.service === 'git-upload-archive' ? 'archive' : 'fetch' };
  return { via: 'ssh', action: printable(req.argv[0] ?? 'help', 64) };
}

/**
 * With a pty (`ssh -t`) the client's terminal is raw and nothing on our side turns `\n` into
 * `\r\n` the way a kernel pty would, so output would staircase. Without one it stays as is.
 */
function forTerminal(ctx: SessionContext, text: string): string {
  return ctx.pty ? text.replace(/\r?\n/g, '\r\n') : text;
}
