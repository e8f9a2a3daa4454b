import { randomBytes } from 'node:crypto';

/** An error caused by the person at the other end: printed as one line, never with a stack. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** A short id that ties the user's `internal error (id …)` line to the logged stack. */
export function errorId(): string {
  return randomBytes(4).toString('hex');
}
