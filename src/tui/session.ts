import type blessed from 'blessed';
import type { Pusher } from '../deploy/report.ts';
import { reportInternal } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { ServiceEvent } from '../service/events.ts';
import { Dashboard, type LogFeed } from './dashboard.ts';
import type { Snapshot } from './model.ts';
import { closeScreen, openScreen } from './screen.ts';
import { TerminalInput, TerminalOutput } from './terminal.ts';

/** The session's side of the SSH channel, as the dashboard needs it. */
export interface DashboardChannel {
  write(data: string): void;
  onData(fn: (data: Buffer) => void): void;
  onClose(fn: () => void): void;
  onResize(fn: (cols: number, rows: number) => void): void;
  readonly destroyed: boolean;
}

export interface DashboardSession {
  channel: DashboardChannel;
  cols: number;
  rows: number;
  user: string;
  snapshot: (focus?: { repo: string; branch: string }) => Snapshot;
  retime: (snap: Snapshot, focus?: { repo: string; branch: string }) => Snapshot;
  subscribe: (fn: (e: ServiceEvent) => void) => () => void;
  run: (argv: string[], out: Pusher) => Promise<number>;
  logs: LogFeed;
  log: Logger;
}

/**
 * Runs one dashboard until the user quits or goes away; resolves to the session's exit status.
 * Everything the dashboard does runs inside this session's guard: a failure (ours or blessed's)
 * is logged once, the user gets `internal error (id …)` and this session ends; the gateway and
 * the other sessions go on.
 */
export function runDashboard(s: DashboardSession): Promise<number> {
  return new Promise<number>((resolve) => {
    const input = new TerminalInput();
    const output = new TerminalOutput({ write: (d) => !s.channel.destroyed && s.channel.write(d) }, s.cols, s.rows);
    let screen: blessed.Widgets.Screen | null = null;
    let dashboard: Dashboard | null = null;
    let done = false;

    const end = (code: number, message?: string) => {
      if (done) return;
      done = true;
      input.destroyed = true;
      try {
        dashboard?.close();
      } finally {
        try {
          // Leaves the alternate screen and shows the cursor again.
          if (screen) closeScreen(screen);
        } catch (err) {
          reportInternal(s.log, err, { user: s.user, during: 'closing the dashboard' });
        }
        if (message && !s.channel.destroyed) s.channel.write(`${message}\r\n`);
        resolve(code);
      }
    };

    const fail = (err: unknown) => end(1, reportInternal(s.log, err, { user: s.user, in: 'dashboard' }));

    function guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
      return (...args: A) => {
        if (done) return;
        try {
          fn(...args);
        } catch (err) {
          fail(err);
        }
      };
    }

    s.channel.onClose(() => end(0));
    s.channel.onData(guard((data: Buffer) => input.feed(data)));
    s.channel.onResize(guard((cols: number, rows: number) => output.resize(cols, rows)));
    guard(() => {
      screen = openScreen(input, output);
      dashboard = new Dashboard({
        screen,
        snapshot: s.snapshot,
        retime: s.retime,
        subscribe: s.subscribe,
        run: s.run,
        logs: s.logs,
        guard,
        quit: () => end(0),
      });
    })();
  });
}
