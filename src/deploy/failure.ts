import fs from 'node:fs';
import { UserError } from '../lib/errors.ts';
import { count } from '../lib/plural.ts';
import { releaseLines } from '../runners/log-files.ts';
import type { ProcessSpec } from '../runners/supervisor.ts';
import { sleep } from './context.ts';

/**
 * A step failed; the message completes `deploy failed: …`. A user error: rollback and rebuild
 * print it as one line. `details`: lines that show why (a failing process's last output).
 */
export class DeployFailure extends UserError {
  readonly details: string[] = [];
}

/** Output lines a failing process's report shows. */
const LAST_WORDS = 15;
const SETTLE_STEP_MS = 30;
const SETTLE_MAX_MS = 500;

/** Resolves once a log file has stopped growing for a moment (at most SETTLE_MAX_MS). */
export async function settled(file: string): Promise<void> {
  const size = () => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  const end = Date.now() + SETTLE_MAX_MS;
  for (let last = -1, now = size(); now !== last && Date.now() < end; last = now, now = size()) await sleep(SETTLE_STEP_MS);
}

/** `last 3 lines of web.0 (r4):` and them, from its own log: lines of other releases sharing the file left out. */
export function lastWords(s: ProcessSpec): string[] {
  const lines = releaseLines(s.logFile, s.release, LAST_WORDS);
  const name = `${s.runner}.${s.index}`;
  if (lines.length === 0) return [`${name} (${s.release}) printed nothing`];
  return [`last ${count(lines.length, 'line')} of ${name} (${s.release}):`, ...lines.map((l) => `| ${l}`)];
}
