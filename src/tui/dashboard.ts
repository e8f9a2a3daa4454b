import type blessed from 'blessed';
import type { Pusher } from '../deploy/report.ts';
import type { ServiceEvent } from '../service/events.ts';
import { actionOverlay, runInPane } from './actions.ts';
import { describeEvent } from './event-text.ts';
import { keyCommand, type Command } from './keymap.ts';
import { LogView } from './log-view.ts';
import { esc, fit } from './markup.ts';
import { actionKeys, detailLines, footer, initialSelection, treeRows, type BranchInfo, type Snapshot, type TreeRow } from './model.ts';
import { helpLines, overlayKey, overlayKeys, overlayText, type Overlay } from './overlays.ts';
import { jumpCompletion, jumpMatch, jumpTargets } from './jump.ts';
import { headerText, logState, logSubject, logText, plainLines, promptText, treeText } from './pane-text.ts';
import { Panes } from './panes.ts';
import { PROMPT_SIGN, promptKey, type PromptKind } from './prompt.ts';

/**
 * Ages and CPU figures change by themselves: they are refreshed every 10 s while the dashboard is
 * used (a key in the last minute, or just opened), else once a minute. Refreshes fall on
 * wall-clock multiples of the period, so all the gateway's dashboards wake together, once.
 */
const USED_REFRESH_MS = 10_000;
const UNUSED_REFRESH_MS = 60_000;
const USED_FOR_MS = 60_000;
/** The service is asked again this long after the last snapshot, in case an event was missed. */
const FULL_REFRESH_MS = 60_000;
/** Events arriving together are painted together: at most two paints a second, well within the second a change may take to show. */
const PAINT_DELAY_MS = 500;

/** What the selected runner's (or branch's) log pane follows: calls `line` for each line, returns the stop. */
export type LogFeed = (target: { repo: string; branch: string; runner?: string }, line: (text: string) => void) => () => void;

export interface DashboardOptions {
  screen: blessed.Widgets.Screen;
  /** what the user may see, now; CPU and memory are read for the `focus` branch only */
  snapshot: (focus?: { repo: string; branch: string }) => Snapshot;
  /** the same snapshot later: new ages, the focus branch's CPU and memory read again */
  retime: (snap: Snapshot, focus?: { repo: string; branch: string }) => Snapshot;
  /** subscribes to the service's events; returns the unsubscribe */
  subscribe: (fn: (e: ServiceEvent) => void) => () => void;
  /** runs an ssh command (the same parsing, policy and audit as `ssh host <command>`) */
  run: (argv: string[], out: Pusher) => Promise<number>;
  logs: LogFeed;
  /** the session's own try/catch: a failure closes this session only */
  guard: <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => void;
  quit: () => void;
}

/**
 * The dashboard of one session: its state (snapshot, selection, log, pop-up, prompt), painted
 * from snapshots of the service whenever one of its events arrives (never by polling), and what
 * each key does to it.
 */
export class Dashboard {
  private snap: Snapshot;
  private rows: TreeRow[] = [];
  private selected: string | undefined;
  private readonly collapsed = new Set<string>();
  private readonly log = new LogView();
  private stopFeed: (() => void) | null = null;
  private feedKey = '';
  private fullLog = false;
  private overlay: Overlay | null = null;
  /** the line being typed after `/`, `&` or `:` */
  private prompt: { kind: PromptKind; text: string } | null = null;
  /** one line for the footer until the next key (a jump to nothing, no further match) */
  private notice: string | null = null;
  private paintTimer: NodeJS.Timeout | null = null;
  /** the next paint must take a new snapshot first */
  private stale = false;
  /** the branch the last snapshot read CPU and memory for */
  private focused = '';
  private coarse: NodeJS.Timeout | null = null;
  /** the coarse refresh's period now */
  private period = USED_REFRESH_MS;
  private lastKey = Date.now();
  private lastFull = 0;
  private readonly unsubscribe: () => void;
  private readonly panes: Panes;
  private closed = false;

  constructor(private readonly o: DashboardOptions) {
    this.panes = new Panes(o.screen);
    this.snap = o.snapshot();
    this.rows = treeRows(this.snap, this.collapsed);
    this.selected = initialSelection(this.rows);
    this.unsubscribe = o.subscribe(o.guard((e) => this.onEvent(e)));
    o.screen.on('keypress', o.guard((ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => this.onKey(ch, key)));
    o.screen.on(
      'resize',
      o.guard(() => {
        this.panes.invalidate();
        this.paint();
      }),
    );
    this.refresh();
    this.schedule();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.coarse) clearTimeout(this.coarse);
    if (this.paintTimer) clearTimeout(this.paintTimer);
    this.unsubscribe();
    this.stopFeed?.();
  }

  // ---------------------------------------------------------------- state

  /** The next coarse refresh, at the next multiple of the period the dashboard's use calls for. */
  private schedule(): void {
    if (this.closed) return;
    if (this.coarse) clearTimeout(this.coarse);
    const now = Date.now();
    this.period = now - this.lastKey < USED_FOR_MS ? USED_REFRESH_MS : UNUSED_REFRESH_MS;
    this.coarse = setTimeout(this.o.guard(() => this.tick()), this.period - (now % this.period));
    this.coarse.unref();
  }

  private tick(): void {
    this.coarse = null;
    // A full refresh is due a little early rather than a period late.
    if (Date.now() - this.lastFull >= FULL_REFRESH_MS - USED_REFRESH_MS / 2) this.refresh();
    else {
      this.snap = this.o.retime(this.snap, this.focus());
      this.paint();
    }
    this.schedule();
  }

  private row(): TreeRow | undefined {
    return this.rows.find((r) => r.key === this.selected);
  }

  private branchOf(row: TreeRow | undefined): BranchInfo | undefined {
    return row?.branch === undefined ? undefined : this.snap.branches.find((b) => b.repo === row.repo && b.branch === row.branch);
  }

  private focus(): { repo: string; branch: string } | undefined {
    const row = this.row();
    return row?.branch === undefined ? undefined : { repo: row.repo, branch: row.branch };
  }

  /** A new snapshot of the service, then a paint. */
  private refresh(): void {
    if (this.closed) return;
    const f = this.focus();
    this.focused = `${f?.repo}/${f?.branch}`;
    this.stale = false;
    this.lastFull = Date.now();
    this.snap = this.o.snapshot(f);
    this.rows = treeRows(this.snap, this.collapsed);
    if (!this.rows.some((r) => r.key === this.selected)) this.selected = initialSelection(this.rows);
    this.followSelected();
    this.paint();
  }

  /** Coalesces bursts (a deploy's steps) into one refresh. */
  private soon(): void {
    this.stale = true;
    this.later();
  }

  /** A new log line or output line: only the panes change, no new snapshot needed. */
  private later(): void {
    if (this.paintTimer || this.closed) return;
    this.paintTimer = setTimeout(
      this.o.guard(() => {
        this.paintTimer = null;
        if (this.stale) this.refresh();
        else this.paint();
      }),
      PAINT_DELAY_MS,
    );
  }

  /** The log pane follows the selected runner, or the selected branch's runners. */
  private followSelected(): void {
    const row = this.row();
    const target = row?.branch !== undefined ? { repo: row.repo, branch: row.branch, runner: row.runner } : undefined;
    const key = target ? `${target.repo}/${target.branch}/${target.runner ?? ''}` : '';
    if (key === this.feedKey) return;
    this.feedKey = key;
    this.stopFeed?.();
    this.stopFeed = null;
    this.log.clear();
    if (!target) return;
    this.stopFeed = this.o.logs(
      target,
      this.o.guard((line: string) => {
        this.log.add(line);
        this.later();
      }),
    );
  }

  private onEvent(e: ServiceEvent): void {
    const about = 'process' in e ? { repo: e.process.repo, branch: e.process.branch } : 'repo' in e ? { repo: e.repo, branch: e.branch } : null;
    const row = this.row();
    // Process starts, exits and stops are noted by the log follower itself, in order with the lines.
    const noted = 'process' in e;
    if (about && row && !noted && about.repo === row.repo && about.branch === row.branch) this.log.add(`slipway | ${describeEvent(e)}`);
    if (about && !this.snap.branches.some((b) => b.repo === about.repo && b.branch === about.branch)) return;
    this.soon();
  }

  // ---------------------------------------------------------------- painting

  private paint(): void {
    if (this.closed) return;
    const p = this.panes;
    p.put(p.head, headerText(this.snap, p.cols));
    p.arrange(this.fullLog);
    if (!this.fullLog) {
      const tree = p.inner(p.tree);
      p.put(p.tree, treeText(this.rows, this.selected, tree.width, tree.height));
      const details = p.inner(p.details);
      p.put(p.details, plainLines(detailLines(this.snap, this.row()).slice(0, details.height), details.width));
    }
    this.paintLog();
    this.paintFooter();
    this.paintOverlay();
    p.render();
  }

  private paintLog(): void {
    const p = this.panes;
    const { width, height } = p.inner(p.log);
    const w = this.log.window(height);
    // Cut to fit between the corners: blessed would run a long label over the border.
    p.label(p.log, ` ${esc(fit(`logs ${logSubject(this.row())} ${logState(w, this.log.follow, this.log.filter, this.log.find)}`, width - 4))} `);
    p.put(p.log, logText(w.lines, this.log.find || this.log.filter, width, w.current));
  }

  private paintFooter(): void {
    const p = this.panes;
    const cols = p.cols;
    if (this.prompt) {
      const { kind, text } = this.prompt;
      return p.put(p.foot, promptText(PROMPT_SIGN[kind], text, kind === 'jump' ? jumpCompletion(text, jumpTargets(this.snap)) : '', cols));
    }
    const keys = this.notice ?? (this.overlay ? overlayKeys(this.overlay) : footer(actionKeys(this.snap, this.row()), cols - 1, this.log.find !== ''));
    p.put(p.foot, esc(fit(` ${keys}`, cols)));
  }

  private paintOverlay(): void {
    const p = this.panes;
    const actions = actionKeys(this.snap, this.row());
    p.popUp(this.overlay !== null, this.overlay?.kind === 'help' ? helpLines(actions).length + 2 : undefined);
    if (!this.overlay) return;
    const { width, height } = p.inner(p.pop);
    const t = overlayText(this.overlay, actions, width, height);
    p.label(p.pop, t.label);
    p.put(p.pop, t.content);
  }

  // ---------------------------------------------------------------- keys

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined): void {
    const name = key?.name;
    if (key?.full === 'C-c') return this.o.quit();
    this.lastKey = Date.now();
    // Back from once a minute to every 10 s.
    if (this.period !== USED_REFRESH_MS) this.schedule();
    if (this.prompt) return this.onPromptKey(ch, name);
    if (this.overlay) return this.onOverlayKey(ch, name);
    // A notice lasts until the next key, whatever it is.
    const hadNotice = this.notice !== null;
    this.notice = null;
    const command = keyCommand(ch, name, this.fullLog);
    if (!command) return hadNotice ? this.paint() : undefined;
    if (command.do === 'quit') return this.o.quit();
    this.apply(command);
    this.refreshOrPaint();
  }

  private apply(c: Exclude<Command, { do: 'quit' }>): void {
    const logRows = this.panes.inner(this.panes.log).height;
    switch (c.do) {
      case 'help':
        this.overlay = { kind: 'help' };
        break;
      case 'full-log':
        this.fullLog = !this.fullLog;
        break;
      case 'follow':
        this.log.toggleFollow();
        break;
      case 'prompt':
        this.prompt = { kind: c.kind, text: '' };
        break;
      case 'match':
        if (!this.log.find) this.notice = 'no search yet: / and a term first';
        else if (!this.log.next(c.dir, logRows)) this.notice = `no ${c.dir > 0 ? 'later' : 'earlier'} line with '${this.log.find}'`;
        break;
      case 'move':
        this.move(c.by);
        break;
      case 'scroll-lines':
        this.log.scroll(c.by, logRows);
        break;
      case 'scroll':
        this.log.scroll(c.pages * logRows, logRows);
        break;
      case 'end':
        this.log.toEnd();
        break;
      case 'expand':
        this.toggle();
        break;
      case 'back':
        if (this.fullLog) this.fullLog = false;
        else {
          this.log.clearSearch();
          this.log.setFilter('');
        }
        break;
      case 'action':
        this.action(c.key);
        break;
    }
  }

  /** After a key: a new snapshot only when the selection moved to another branch (its CPU and memory are read then). */
  private refreshOrPaint(): void {
    const f = this.focus();
    if (`${f?.repo}/${f?.branch}` !== this.focused) return this.refresh();
    this.rows = treeRows(this.snap, this.collapsed);
    this.followSelected();
    this.paint();
  }

  private move(delta: number): void {
    const i = this.rows.findIndex((r) => r.key === this.selected);
    const next = this.rows[Math.min(this.rows.length - 1, Math.max(0, i + delta))];
    if (next) this.selected = next.key;
  }

  private toggle(): void {
    const row = this.row();
    if (!row || row.collapsed === undefined) return;
    if (this.collapsed.has(row.key)) this.collapsed.delete(row.key);
    else this.collapsed.add(row.key);
  }

  private onPromptKey(ch: string | undefined, name: string | undefined): void {
    const { kind, text } = this.prompt!;
    const r = promptKey(text, ch, name, kind === 'jump' ? (t) => jumpCompletion(t, jumpTargets(this.snap)) : undefined);
    if ('ignored' in r) return;
    this.prompt = 'text' in r ? { kind, text: r.text } : null;
    if (!('submit' in r)) return this.paint();
    const logRows = this.panes.inner(this.panes.log).height;
    if (kind === 'filter') this.log.setFilter(r.submit);
    else if (kind === 'search' && !this.log.search(r.submit, logRows)) this.notice = `no line with '${r.submit}'`;
    else if (kind === 'jump' && r.submit) this.jump(r.submit);
    this.refreshOrPaint();
  }

  /** Selects what a `:` path names, opening the rows above it; says so when it names nothing. */
  private jump(text: string): void {
    const t = jumpMatch(text, jumpTargets(this.snap));
    if (!t) {
      this.notice = `no repo, branch or runner '${text}'`;
      return;
    }
    for (const k of t.parents) this.collapsed.delete(k);
    this.rows = treeRows(this.snap, this.collapsed);
    this.selected = t.key;
  }

  private onOverlayKey(ch: string | undefined, name: string | undefined): void {
    const r = overlayKey(this.overlay!, ch, name);
    if ('ignored' in r) return;
    if ('run' in r) this.overlay = runInPane(r.run.title, r.run.argv, this.o.run, this.o.guard, (done) => (done ? this.soon() : this.later()));
    else this.overlay = r.overlay;
    this.paint();
  }

  /** An action key: offered only where the role allows it, always confirmed first. */
  private action(k: string): void {
    const row = this.row();
    const b = this.branchOf(row);
    if (!b || !actionKeys(this.snap, row).some((a) => a.key === k)) return;
    this.overlay = actionOverlay(b, k) ?? this.overlay;
  }
}
