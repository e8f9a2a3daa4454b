import { UserError } from '../lib/errors.ts';
import { formatLogLine, MAX_TAIL_LINES, type LogLine } from '../service/logs.ts';
import { defineCommand, type CommandContext, type FlagSpec } from './types.ts';

/** `logs --json`, documented in docs/commands.md: one object per line; add fields, never rename or remove them. */
export interface LogLineJson {
  /** UTC with microseconds, as the log file has it; null for a line without a time (a file edited by hand) */
  time: string | null;
  /** `web.0`, `web.0 stand-in`; null in a note of slipway's about the stream itself */
  process: string | null;
  release: string | null;
  line: string;
  /** slipway's own line (a process started, exited, stopped; lines dropped), not one the app printed */
  note: boolean;
  /** in the note that lines were dropped: how many */
  dropped?: number;
}

const JSON_LINES = { kind: 'switch', long: '--json', help: 'print one JSON object per line instead (shape: docs/commands.md)' } as const satisfies FlagSpec;

/** `2026-12-02T01:02:03.456789Z` from microseconds since the epoch. */
function isoMicros(us: number): string | null {
  if (!Number.isFinite(us)) return null;
  const ms = Math.floor(us / 1000);
  return new Date(ms).toISOString().replace(/Z$/, `${String(us - ms * 1000).padStart(3, '0')}Z`);
}

function toJson(l: LogLine): LogLineJson {
  return { time: isoMicros(l.time), process: l.source, release: l.release, line: l.text, note: l.note === true };
}

/** What a follower is told of the lines its slow connection missed. */
function droppedNote(dropped: number, json: boolean): string {
  const line = `[slipway: ${dropped} line${dropped === 1 ? '' : 's'} dropped here: your connection was slower than the app's output]`;
  if (!json) return `${line}\n`;
  const note: LogLineJson = { time: isoMicros(Date.now() * 1000), process: null, release: null, line, note: true, dropped };
  return `${JSON.stringify(note)}\n`;
}

/** Lines waiting for a follower's slow connection beyond this are dropped, and counted. */
const MAX_BACKLOG = 1024 * 1024;

export const logs = defineCommand({
  name: 'logs',
  usage: '<repo> <branch> [<runner>]',
  summary: "the app's last lines merged by time (-f: then follow), or a deploy log",
  argCounts: [2, 3],
  flags: {
    lines: { kind: 'int', short: '-n', long: '--lines', arg: 'N', min: 0, max: MAX_TAIL_LINES, help: 'how many of the last lines to print (default 100)' },
    follow: { kind: 'switch', short: '-f', long: '--follow', help: 'then print each new line as it is written, across restarts and deploys, until you disconnect; with --deploy: the deploy in progress, until it ends' },
    json: JSON_LINES,
    deploy: { kind: 'optional', long: '--deploy', arg: 'release', accepts: /^r\d+$/, help: "print a release's deploy log instead (default: the newest deploy's)" },
  },
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [repo, branch, runner] = ctx.args as [string, string, string | undefined];
    const { lines, follow, deploy, json } = ctx.flags;
    if (deploy !== undefined) {
      if (runner !== undefined || lines !== undefined || json) throw new UserError('--deploy prints a whole deploy log: it takes no <runner>, -n or --json\nusage: logs <repo> <branch> --deploy [<release>] [-f]', 2, 'usage');
      const release = deploy === true ? undefined : deploy;
      if (follow) return followDeploy(ctx, repo, branch, release);
      ctx.out(ctx.service.deployLog(ctx.user, repo, branch, release).text);
      return 0;
    }
    const query = { repo, branch, runner, lines };
    let width = 0;
    const print = (batch: LogLine[]): string => {
      if (json) return batch.map((l) => JSON.stringify(toJson(l)) + '\n').join('');
      width = Math.max(width, ...batch.map((l) => l.source.length));
      return batch.map((l) => formatLogLine(l, width) + '\n').join('');
    };
    if (!follow) {
      ctx.out(print(ctx.service.tailLogs(ctx.user, query)));
      return 0;
    }
    let dropped = 0;
    const release = ctx.holdOpen();
    return new Promise<number>((resolve) => {
      const stop = ctx.service.followLogs(ctx.user, query, (batch) => {
        // Never let a slow client make the gateway hold an app's output: drop, and say so once it catches up.
        if ((ctx.out.backlog?.() ?? 0) > MAX_BACKLOG) {
          dropped += batch.length;
          return;
        }
        const note = dropped === 0 ? '' : droppedNote(dropped, json);
        dropped = 0;
        ctx.out(note + print(batch));
      });
      const end = () => {
        stop();
        release();
        resolve(0);
      };
      if (ctx.closed.aborted) end();
      else ctx.closed.addEventListener('abort', end, { once: true });
    });
  },
});

/**
 * `logs --deploy -f`: the deploy in progress, from its first line until it ends, exiting 0 when
 * it succeeded and 1 when it failed. Without one in progress, the finished log (the newest, or
 * the release named) and its outcome: it never waits for a deploy that has not started, so a
 * script that pushes and then follows sees the deploy it caused, running or just finished.
 */
async function followDeploy(ctx: CommandContext, repo: string, branch: string, release: string | undefined): Promise<number> {
  let settle: (code: number) => void = () => {};
  const outcome = new Promise<number>((resolve) => (settle = resolve));
  const stop = ctx.service.followDeployLog(ctx.user, repo, branch, release, {
    write: (text) => ctx.out(text),
    backlog: () => ctx.out.backlog?.() ?? 0,
    end: (r) => {
      if (!r.ok) ctx.err(failedLine(repo, branch, r.release, r.error));
      settle(r.ok ? 0 : 1);
    },
  });
  if (!stop) {
    const log = ctx.service.deployLog(ctx.user, repo, branch, release);
    ctx.out(log.text);
    const last = ctx.service.lastDeploy(repo, branch);
    if (last?.release !== log.release || last.ok) return 0;
    ctx.err(failedLine(repo, branch, last.release, last.error));
    return 1;
  }
  const letIdle = ctx.holdOpen();
  const left = () => settle(0);
  ctx.closed.addEventListener('abort', left, { once: true });
  if (ctx.closed.aborted) left();
  try {
    return await outcome;
  } finally {
    ctx.closed.removeEventListener('abort', left);
    stop();
    letIdle();
  }
}

/** `deploy r5 of hello/main failed: build exited with status 3` */
function failedLine(repo: string, branch: string, release: string, error = 'unknown'): string {
  return `deploy ${release} of ${repo}/${branch} failed: ${error.replace(/^deploy failed: /, '')}\n`;
}
