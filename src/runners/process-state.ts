import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../lib/fs-util.ts';
import type { Logger } from '../lib/log.ts';
import type { ProcessStatus } from './supervisor.ts';

/**
 * The supervisor's state file: every supervised process with its pid and the pid's start time
 * (so a later process that reuses the pid is never mistaken for it), under the boot it ran in.
 * It holds the apps' environments, so it is the gateway's alone (0600 in a 0700 folder); each
 * app gets its own environment only when it starts.
 */

export interface ProcessRecord extends ProcessStatus {
  /** Field 22 of /proc/<pid>/stat while pid is set. */
  startTicks: number | null;
}

export interface SavedState {
  bootId: string;
  processes: ProcessRecord[];
}

const record = z.object({
  id: z.string(),
  repo: z.string(),
  branch: z.string(),
  release: z.string(),
  runner: z.string(),
  index: z.number().int(),
  cmd: z.string(),
  cwd: z.string(),
  env: z.record(z.string(), z.string()),
  port: z.number().int().optional(),
  logFile: z.string(),
  confine: z.object({
    mode: z.enum(['sandbox', 'user', 'none']),
    user: z.object({ name: z.string(), uid: z.number().int().positive(), gid: z.number().int().positive() }).nullable(),
    home: z.string(),
    writable: z.array(z.string()),
    hidden: z.array(z.string()),
    limits: z.object({ processes: z.number().int().positive().nullable(), openFiles: z.number().int().nonnegative(), memoryBytes: z.number().int().nonnegative() }),
  }).optional(),
  pid: z.number().int().positive().nullable(),
  startTicks: z.number().int().nonnegative().nullable(),
  state: z.enum(['running', 'backoff', 'crash-loop', 'stopping']),
  restarts: z.number().int().nonnegative(),
  startedAt: z.number(),
  lastExit: z.object({ code: z.number().int().nullable(), signal: z.string().nullable(), at: z.number() }).optional(),
});
const stateFile = z.object({ version: z.literal(1), bootId: z.string(), processes: z.array(record) });

/** The saved state, or undefined if there is none. An unreadable file is moved aside (and logged), not fatal. */
export function loadState(file: string, log: Logger): SavedState | undefined {
  removeTempFiles(file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return stateFile.parse(JSON.parse(text));
  } catch (err) {
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(file, aside);
    const reason = err instanceof z.ZodError ? `${err.issues[0]!.path.join('.')}: ${err.issues[0]!.message}` : (err as Error).message;
    log.error('process state file unreadable; moved aside, supervising nothing from it', { file, movedTo: aside, reason });
    return undefined;
  }
}

export function saveState(file: string, state: SavedState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify({ version: 1, ...state }, null, 1) + '\n', 0o600);
}

/** A kill during a save leaves its temp file behind; the state file itself is always whole. */
function removeTempFiles(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(prefix)) fs.rmSync(path.join(dir, name), { force: true });
}
