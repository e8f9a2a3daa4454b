import { UserError } from '../lib/errors.ts';
import { formatLogLine, MAX_TAIL_LINES, type LogLine } from '../service/logs.ts';
import { defineCommand } from './types.ts';

/** Lines waiting for a follower's slow connection beyond this are dropped, and counted. */
const MAX_BACKLOG = 1024 * 1024;

export const logs = defineCommand({
  name: 'logs',
  usage: '<repo> <branch> [<runner>]',
  summary: "the app's last lines merged by time (-f: then follow), or a deploy log",
  argCounts: [2, 3],
  flags: {
    lines: { kind: 'int', short: '-n', long: '--lines', arg: 'N', min: 0, max: MAX_TAIL_LINES, help: 'how many of the last lines to print (default 100)' },
    follow: { kind: 'switch', short: '-f', long: '--follow', help: 'then print each new line as it is written, across restarts and deploys, until you disconnect' },
    deploy: { kind: 'optional', long: '--deploy', arg: 'release', accepts: /^r\d+$/, help: "print a release's deploy log instead (default: the newest deploy's)" },
  },
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [repo, branch, runner] = ctx.args as [string, string, string | undefined];
    const { lines, follow, deploy } = ctx.flags;
    if (deploy !== undefined) {
      if (runner !== undefined || follow || lines !== undefined) throw new UserError('--deploy prints a whole deploy log: it takes no <runner>, -n or -f\nusage: logs <repo> <branch> --deploy [<release>]', 2, 'usage');
      ctx.out(ctx.service.deployLog(ctx.user, repo, branch, deploy === true ? undefined : deploy).text);
      return 0;
    }
    const query = { repo, branch, runner, lines };
    let width = 0;
    const print = (batch: LogLine[]): string => {
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
        const note = dropped ? `[slipway: ${dropped} line${dropped === 1 ? '' : 's'} dropped here: your connection was slower than the app's output]\n` : '';
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
