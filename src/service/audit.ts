import fs from 'node:fs';
import path from 'node:path';
import { ClientGoneError, isUserError, reportInternal } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';

/** Who did something, as every front end (git, ssh commands, the dashboard) tells the service. */
export interface Actor {
  user: string;
  /** SHA256 fingerprint of the key that signed in */
  fingerprint: string;
  /** the client's address and port, `203.0.113.5:50312` */
  address: string;
  via: 'git' | 'ssh' | 'tui';
}

/**
 * How it ended. `ok`; `failed`: ran and did not succeed (a non-zero exit, a refused or failed ref
 * update, a failed deploy); `denied`: the access decision said no (or the repo is hidden);
 * `usage`: bad arguments; `unknown`: no such command; `refused`: another refusal (bad input, a
 * busy branch); `disconnected`: the client left first; `error`: a bug (see the server log).
 */
export type AuditResult = 'ok' | 'failed' | 'denied' | 'usage' | 'unknown' | 'refused' | 'disconnected' | 'error';

/** One ref of a push as the pusher's report-status told it. */
export interface AuditRef {
  ref: string;
  old: string;
  new: string;
  /** the `ng` reason; absent when the ref moved */
  error?: string;
}

/** What a front end says it is doing; the rest of the line is the actor and the outcome. */
export interface AuditSubject {
  /** `push`, `fetch`, a command's name, a dashboard action */
  action: string;
  repo?: string;
  branch?: string;
  /** a command's words after its name */
  args?: string[];
  /** a push's ref updates */
  refs?: AuditRef[];
}

/** One line of `<data>/audit.log`. */
export interface AuditEntry extends AuditSubject {
  time: string;
  user: string;
  fingerprint: string;
  address: string;
  via: Actor['via'];
  result: AuditResult;
  /** a command's exit status */
  exit?: number;
  /** the refusal or failure the user saw (one line) */
  message?: string;
  ms: number;
}

const MAX_TEXT = 300;
/** The live file is rotated at this size; `audit.log.1` … `audit.log.KEEP` are kept. */
const AUDIT_MAX_BYTES = 16 * 1024 * 1024;
const AUDIT_KEEP = 10;

const cut = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

/** How an error thrown by an audited operation is recorded (it is rethrown unchanged). */
function outcomeOf(err: unknown): { result: AuditResult; message?: string } {
  if (err instanceof ClientGoneError) return { result: 'disconnected' };
  if (!isUserError(err)) return { result: 'error' };
  const byCode: Record<string, AuditResult> = { forbidden: 'denied', 'not-found': 'denied', usage: 'usage', 'unknown-command': 'unknown' };
  return { result: byCode[err.code] ?? 'refused', message: cut(err.message.split('\n')[0]!) };
}

/**
 * The audit log: one JSON object per line, appended (O_APPEND, one write per line, so lines of
 * concurrent sessions never interleave), mode 0600. It is the record of who did what; the
 * server log is for operating slipway.
 */
export class AuditLog {
  readonly file: string;
  private size: number;

  constructor(
    dataDir: string,
    private readonly log: Logger,
    private readonly limits = { maxBytes: AUDIT_MAX_BYTES, keep: AUDIT_KEEP },
  ) {
    this.file = path.join(dataDir, 'audit.log');
    this.size = fs.statSync(this.file, { throwIfNoEntry: false })?.size ?? 0;
  }

  append(entry: AuditEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    if (this.size + line.length > this.limits.maxBytes && this.size > 0) this.rotate();
    fs.appendFileSync(this.file, line, { mode: 0o600 });
    this.size += Buffer.byteLength(line);
  }

  private rotate(): void {
    for (let i = this.limits.keep; i > 1; i--) {
      if (fs.existsSync(`${this.file}.${i - 1}`)) fs.renameSync(`${this.file}.${i - 1}`, `${this.file}.${i}`);
    }
    fs.renameSync(this.file, `${this.file}.1`);
    this.size = 0;
  }

  /**
   * Runs `fn` and records one line for it: its result, how long it took, and what `subject`
   * says by the time it ends (`fn` may fill in the repo, the refs, …). Errors are recorded and
   * rethrown. `exitOf` turns a resolved value into an exit status (non-zero: `failed`).
   */
  async record<T>(actor: Actor, subject: AuditSubject, fn: (subject: AuditSubject) => Promise<T>, exitOf?: (value: T) => number): Promise<T> {
    const started = Date.now();
    const write = (outcome: { result: AuditResult; exit?: number; message?: string }): void => {
      const entry: AuditEntry = {
        time: new Date(started).toISOString(),
        user: actor.user,
        fingerprint: actor.fingerprint,
        address: actor.address,
        via: actor.via,
        ...subject,
        ...(subject.args ? { args: subject.args.map(cut) } : {}),
        ...outcome,
        ms: Date.now() - started,
      };
      // The operation has happened: a full disk must not turn its answer into a failure. The
      // server log gets the line instead.
      try {
        this.append(entry);
      } catch (err) {
        reportInternal(this.log, err, { during: 'audit log write', entry: JSON.stringify(entry) });
      }
    };
    let value: T;
    try {
      value = await fn(subject);
    } catch (err) {
      write(outcomeOf(err));
      throw err;
    }
    const exit = exitOf?.(value);
    const refErrors = subject.refs?.filter((r) => r.error) ?? [];
    if (exit !== undefined) write({ result: exit === 0 ? 'ok' : 'failed', exit });
    else if (refErrors.length) write({ result: refErrors.every((r) => r.error!.startsWith('permission denied')) ? 'denied' : 'failed' });
    else write({ result: 'ok' });
    return value;
  }
}
