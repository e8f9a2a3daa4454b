import { randomBytes } from 'node:crypto';
import type { Logger } from './log.ts';

/** Every error slipway raises on purpose: `code` says which kind without comparing messages. */
export class SlipwayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * Caused by the person at the other end (bad command, bad config, refused access or push):
 * printed as one line, never with a stack, and ends the command with `exitCode`.
 */
export class UserError extends SlipwayError {
  constructor(
    message: string,
    readonly exitCode = 1,
    code = 'user',
  ) {
    super(code, message);
  }
}

/** The client closed its end while we were still answering: nobody is left to tell. */
export class ClientGoneError extends SlipwayError {
  constructor() {
    super('client-gone', 'client went away');
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** A short id that ties the user's `internal error (id …)` line to the logged stack. */
function errorId(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A bug, not the user's doing: its stack goes to the server log once, under an id; the returned
 * line is all the user sees. Every place that catches a crash goes through here.
 */
export function reportInternal(log: Logger, err: unknown, fields: Record<string, unknown> = {}): string {
  const id = errorId();
  log.error('internal error', { id, ...fields, error: err instanceof Error ? err.stack : String(err) });
  return `internal error (id ${id})`;
}
