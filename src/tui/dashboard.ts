import blessed from 'blessed';
import type { Pusher } from '../deploy/report.ts';
import type { ServiceEvent } from '../service/events.ts';
import { LogView } from './log-view.ts';
import { actionKeys, detailLines, footer, header, initialSelection, NAV_KEYS, treeRows, type BranchInfo, type Snapshot, type Tone, type TreeRow } from './model.ts';

/** Ages and CPU figures change by themselves: refreshed this often, and only that. */
const COARSE_REFRESH_MS = 10_000;
/** Every this many coarse refreshes the service is asked again, in case an event was missed. */
const FULL_EVERY = 6;
/** Events arriving together are painted together: at most two paints a second, well within the second a change may take to show. */
const PAINT_DELAY_MS = 500;
const TREE_WIDTH = '38%';

const TONE_TAG: Record<Tone, string> = { ok: 'green-fg', warn: 'yellow-fg', bad: 'red-fg', busy: 'cyan-fg', idle: 'gray-fg' };

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

type Overlay =
  | { kind: 'help' }
  | { kind: 'confirm'; question: string; argv: string[] }
  | { kind: 'choose'; title: string; items: { label: string; argv: string[]; question: string }[]; index: number }
  | { kind: 'output'; title: string; lines: string[]; running: boolean };

function esc(s: string): string {
  return blessed.escape(s);
}

function fit(s: string, width: number): string {
  if (width <= 0) return '';
  return s.length > width ? `${s.slice(0, Math.max(0, width - 1))}…` : s;
}

function paint(text: string, tone: Tone): string {
  return `{${TONE_TAG[tone]}}${esc(text)}{/${TONE_TAG[tone]}}`;
}

/**
 * The dashboard of one session: header, tree, details, log pane and footer, painted from
 * snapshots of the service whenever one of its events arrives (never by polling), and the keys.
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
  /** the search being typed after `/`, or null */
  private typing: string | null = null;
  private paintTimer: NodeJS.Timeout | null = null;
  private readonly coarse: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private closed = false;

  private readonly head: blessed.Widgets.BoxElement;
  private readonly tree: blessed.Widgets.BoxElement;
  private readonly details: blessed.Widgets.BoxElement;
  private readonly logBox: blessed.Widgets.BoxElement;
  private readonly foot: blessed.Widgets.BoxElement;
  private readonly pop: blessed.Widgets.BoxElement;

  constructor(private readonly o: DashboardOptions) {
    const screen = o.screen;
    const box = (opts: blessed.Widgets.BoxOptions) => blessed.box({ parent: screen, tags: true, wrap: false, ...opts });
    this.head = box({ top: 0, left: 0, width: '100%', height: 1, style: { bg: 'blue', fg: 'white' } });
    this.tree = box({ top: 1, left: 0, width: TREE_WIDTH, border: { type: 'line' }, label: ' apps ' });
    this.details = box({ top: 1, left: TREE_WIDTH, width: `${100 - parseInt(TREE_WIDTH)}%`, border: { type: 'line' }, label: ' details ' });
    this.logBox = box({ left: 0, width: '100%', border: { type: 'line' }, label: ' logs ' });
    this.foot = box({ bottom: 0, left: 0, width: '100%', height: 1, style: { bg: 'black', fg: 'white' } });
    this.pop = box({ top: 'center', left: 'center', width: '80%', height: '70%', border: { type: 'line' }, hidden: true, style: { bg: 'black', border: { fg: 'cyan' } } });

    this.snap = o.snapshot();
    this.rows = treeRows(this.snap, this.collapsed);
    this.selected = initialSelection(this.rows);
    this.unsubscribe = o.subscribe(o.guard((e) => this.onEvent(e)));
    screen.on('keypress', o.guard((ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => this.onKey(ch, key)));
    screen.on(
      'resize',
      o.guard(() => {
        this.dirty = true;
        this.paint();
      }),
    );
    let ticks = 0;
    this.coarse = setInterval(
      o.guard(() => {
        if (++ticks % FULL_EVERY === 0) return this.refresh();
        this.snap = o.retime(this.snap, this.focus());
        this.paint();
      }),
      COARSE_REFRESH_MS,
    );
    this.coarse.unref();
    this.refresh();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.coarse);
    if (this.paintTimer) clearTimeout(this.paintTimer);
    this.unsubscribe();
    this.stopFeed?.();
  }

  // ---------------------------------------------------------------- state

  private row(): TreeRow | undefined {
    return this.rows.find((r) => r.key === this.selected);
  }

  private branchOf(row: TreeRow | undefined): BranchInfo | undefined {
    return row?.branch === undefined ? undefined : this.snap.branches.find((b) => b.repo === row.repo && b.branch === row.branch);
  }

  /** the branch the last snapshot read CPU and memory for */
  private focused = '';

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

  /** A new log line: only the panes change, no new snapshot needed. */
  private soonPaint(): void {
    this.later();
  }

  /** the next paint must take a new snapshot first */
  private stale = false;

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
        this.soonPaint();
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

  /** Whether anything on screen differs from what was last drawn: blessed redraws only then. */
  private dirty = true;
  private readonly labels = new Map<blessed.Widgets.BoxElement, string>();
  private readonly contents = new Map<blessed.Widgets.BoxElement, string>();

  private put(el: blessed.Widgets.BoxElement, content: string): void {
    if (this.contents.get(el) === content) return;
    this.contents.set(el, content);
    el.setContent(content);
    this.dirty = true;
  }

  private label(el: blessed.Widgets.BoxElement, text: string): void {
    if (this.labels.get(el) === text) return;
    this.labels.set(el, text);
    el.setLabel(text);
    this.dirty = true;
  }

  private layout(el: blessed.Widgets.BoxElement, key: 'top' | 'height', value: number): void {
    if (el[key] === value) return;
    el[key] = value;
    this.dirty = true;
  }

  private visible(el: blessed.Widgets.BoxElement, shown: boolean): void {
    if (el.visible === shown) return;
    if (shown) el.show();
    else el.hide();
    this.dirty = true;
  }

  private paint(): void {
    if (this.closed) return;
    const screen = this.o.screen;
    const cols = screen.width as number;
    const rows = screen.height as number;
    const h = header(this.snap);
    this.put(this.head, paint(fit(` ${h.text}`, cols), h.tone === 'ok' ? 'ok' : 'bad').replace('{green-fg}', '{white-fg}').replace('{/green-fg}', '{/white-fg}'));

    const body = rows - 2;
    const logHeight = this.fullLog ? body : Math.max(5, Math.floor(body * 0.4));
    const topHeight = body - logHeight;
    for (const el of [this.tree, this.details]) {
      this.visible(el, !this.fullLog);
      if (!this.fullLog) this.layout(el, 'height', topHeight);
    }
    this.layout(this.logBox, 'top', 1 + (this.fullLog ? 0 : topHeight));
    this.layout(this.logBox, 'height', logHeight);

    if (!this.fullLog) {
      this.paintTree(Math.max(1, (this.tree.width as number) - 2), Math.max(1, topHeight - 2));
      const width = Math.max(1, (this.details.width as number) - 2);
      this.put(this.details, detailLines(this.snap, this.row()).slice(0, Math.max(1, topHeight - 2)).map((l) => esc(fit(l, width))).join('\n'));
    }
    this.paintLog(cols - 2, logHeight - 2);
    this.paintFooter(cols);
    this.paintOverlay();
    if (!this.dirty) return;
    this.dirty = false;
    screen.render();
  }

  private paintTree(width: number, height: number): void {
    const i = Math.max(0, this.rows.findIndex((r) => r.key === this.selected));
    const offset = Math.max(0, Math.min(i - Math.floor(height / 2), this.rows.length - height));
    const lines = this.rows.slice(offset, offset + height).map((r) => {
      const mark = r.collapsed === undefined ? ' ' : r.collapsed ? '+' : '-';
      const text = fit(`${'  '.repeat(r.depth)}${mark} ${r.label}`, width - (r.badge ? r.badge.text.length + 1 : 0));
      const line = r.badge ? `${esc(text.padEnd(width - r.badge.text.length))}${paint(r.badge.text, r.badge.tone)}` : esc(text);
      return r.key === this.selected ? `{inverse}${line}{/inverse}` : line;
    });
    this.put(this.tree, lines.join('\n') || 'no repos you may read');
  }

  private paintLog(width: number, height: number): void {
    const row = this.row();
    const what = row?.branch !== undefined ? `${row.repo}/${row.branch}${row.runner ? ` ${row.runner}` : ''}` : 'select a branch or runner';
    const w = this.log.window(Math.max(1, height));
    const state = this.log.follow ? 'following' : `paused, ${w.fromEnd} newer`;
    const search = this.log.term ? `  /${this.log.term}` : '';
    this.label(this.logBox, ` logs ${what} (${state})${esc(search)} `);
    const term = this.log.term.toLowerCase();
    this.put(
      this.logBox,
      w.lines
        .map((l) => {
          const line = fit(l, width);
          if (!term) return esc(line);
          const at = line.toLowerCase().indexOf(term);
          return at < 0 ? esc(line) : `${esc(line.slice(0, at))}{yellow-bg}{black-fg}${esc(line.slice(at, at + term.length))}{/black-fg}{/yellow-bg}${esc(line.slice(at + term.length))}`;
        })
        .join('\n'),
    );
  }

  private paintFooter(cols: number): void {
    if (this.typing !== null) {
      this.put(this.foot, esc(fit(`/${this.typing}`, cols - 1)) + '{inverse} {/inverse}');
      return;
    }
    const keys = this.overlay ? overlayKeys(this.overlay) : footer(actionKeys(this.snap, this.row()), cols - 1);
    this.put(this.foot, esc(fit(` ${keys}`, cols)));
  }

  private paintOverlay(): void {
    const o = this.overlay;
    if (!o) {
      this.visible(this.pop, false);
      return;
    }
    if (!this.pop.visible) this.pop.setFront();
    this.visible(this.pop, true);
    const width = Math.max(1, (this.pop.width as number) - 2);
    const height = Math.max(1, (this.pop.height as number) - 2);
    let lines: string[];
    switch (o.kind) {
      case 'help':
        this.label(this.pop, ' keys ');
        lines = helpLines(actionKeys(this.snap, this.row())).map((l) => esc(fit(l, width)));
        break;
      case 'confirm':
        this.label(this.pop, ' confirm ');
        lines = ['', esc(fit(o.question, width)), '', esc('y: yes   n / Esc: no')];
        break;
      case 'choose':
        this.label(this.pop, ` ${esc(o.title)} `);
        lines = o.items.map((it, i) => (i === o.index ? `{inverse}${esc(fit(it.label, width))}{/inverse}` : esc(fit(it.label, width))));
        break;
      case 'output':
        this.label(this.pop, ` ${esc(o.title)}${o.running ? ' (running)' : ''} `);
        lines = o.lines.slice(-height).map((l) => esc(fit(l, width)));
        break;
    }
    this.put(this.pop, lines.join('\n'));
  }

  // ---------------------------------------------------------------- keys

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined): void {
    const name = key?.name;
    if (key?.full === 'C-c') return this.o.quit();
    if (this.typing !== null) return this.onSearchKey(ch, name);
    if (this.overlay) return this.onOverlayKey(ch, name);
    const logRows = Math.max(1, (this.logBox.height as number) - 2);
    switch (ch ?? name) {
      case 'q':
        return this.o.quit();
      case '?':
        this.overlay = { kind: 'help' };
        break;
      case 'l':
        this.fullLog = !this.fullLog;
        break;
      case 'f':
        this.log.toggleFollow();
        break;
      case '/':
        this.typing = '';
        break;
      case 'j':
        if (this.fullLog) this.log.scroll(1, logRows);
        else this.move(1);
        break;
      case 'k':
        if (this.fullLog) this.log.scroll(-1, logRows);
        else this.move(-1);
        break;
      case 'G':
        this.log.toEnd();
        break;
      case 'r':
      case 'b':
      case 'R':
      case 'c':
        this.action(ch!);
        break;
      default:
        switch (name) {
          case 'down':
            if (this.fullLog) this.log.scroll(1, logRows);
            else this.move(1);
            break;
          case 'up':
            if (this.fullLog) this.log.scroll(-1, logRows);
            else this.move(-1);
            break;
          case 'pageup':
            this.log.scroll(-logRows, logRows);
            break;
          case 'pagedown':
            this.log.scroll(logRows, logRows);
            break;
          case 'end':
            this.log.toEnd();
            break;
          case 'enter':
          case 'return':
          case 'space':
            this.toggle();
            break;
          case 'escape':
            if (this.fullLog) this.fullLog = false;
            else if (this.log.term) this.log.search('');
            break;
          default:
            return;
        }
    }
    this.refreshOrPaint();
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

  private onSearchKey(ch: string | undefined, name: string | undefined): void {
    if (name === 'enter' || name === 'return') {
      this.log.search(this.typing ?? '');
      this.typing = null;
    } else if (name === 'escape') {
      this.typing = null;
    } else if (name === 'backspace') {
      this.typing = (this.typing ?? '').slice(0, -1);
    } else if (ch && ch >= ' ' && ch !== '\x7f' && (this.typing ?? '').length < 100) {
      this.typing += ch;
    } else return;
    this.paint();
  }

  private onOverlayKey(ch: string | undefined, name: string | undefined): void {
    const o = this.overlay!;
    if (o.kind === 'confirm') {
      if (ch === 'y' || ch === 'Y') this.start(o.question.replace(/\?$/, ''), o.argv);
      else if (ch === 'n' || ch === 'N' || name === 'escape' || ch === 'q') this.overlay = null;
      else return;
    } else if (o.kind === 'choose') {
      if (name === 'down' || ch === 'j') o.index = Math.min(o.items.length - 1, o.index + 1);
      else if (name === 'up' || ch === 'k') o.index = Math.max(0, o.index - 1);
      else if (name === 'enter' || name === 'return') {
        const it = o.items[o.index]!;
        this.overlay = { kind: 'confirm', question: it.question, argv: it.argv };
      } else if (name === 'escape' || ch === 'q') this.overlay = null;
      else return;
    } else if (name === 'escape' || ch === 'q' || (o.kind === 'help' && ch === '?') || (o.kind === 'output' && !o.running && (name === 'enter' || name === 'return'))) {
      this.overlay = null;
    } else return;
    this.paint();
  }

  /** An action key: offered only where the role allows it, always confirmed first. */
  private action(k: string): void {
    const row = this.row();
    const b = this.branchOf(row);
    if (!b || !actionKeys(this.snap, row).some((a) => a.key === k)) return;
    const where = `${b.repo}/${b.branch}`;
    switch (k) {
      case 'r':
        this.overlay = { kind: 'confirm', question: `restart ${where}?`, argv: ['restart', b.repo, b.branch] };
        break;
      case 'b':
        this.overlay = { kind: 'confirm', question: `rebuild ${where}?`, argv: ['rebuild', b.repo, b.branch] };
        break;
      case 'R': {
        const items = b.releases
          .filter((r) => r.id !== b.current)
          .reverse()
          .map((r) => ({ label: `${r.id}  ${r.commit.slice(0, 7)}  by ${r.user}`, argv: ['rollback', b.repo, b.branch, r.id], question: `roll ${where} back to ${r.id} (${r.commit.slice(0, 7)})?` }));
        this.overlay = { kind: 'choose', title: `rollback ${where} to`, items, index: 0 };
        break;
      }
      case 'c': {
        const items = b.customCmds.map((c) => ({ label: c, argv: ['custom_cmds', b.repo, b.branch, c], question: `run '${c}' on ${where}?` }));
        this.overlay = { kind: 'choose', title: `command on ${where}`, items, index: 0 };
        break;
      }
    }
  }

  /** Runs a confirmed action; its output streams into a pane while the dashboard stays live. */
  private start(title: string, argv: string[]): void {
    const pane: Overlay & { kind: 'output' } = { kind: 'output', title, lines: [], running: true };
    this.overlay = pane;
    let partial = '';
    const out: Pusher = this.o.guard((text: string) => {
      const parts = (partial + text).split(/\r?\n/);
      partial = parts.pop() ?? '';
      for (const p of parts) pane.lines.push(`${cleanForPane(p)}`);
      if (pane.lines.length > 1000) pane.lines.splice(0, pane.lines.length - 1000);
      this.soonPaint();
    });
    out.backlog = () => 0;
    void this.o
      .run(argv, out)
      .then(
        (code) => (code === 0 ? 'done' : `exited ${code}`),
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      )
      .then(
        this.o.guard((end: string) => {
          if (partial) pane.lines.push(cleanForPane(partial));
          pane.lines.push('', `${end}; Enter or Esc closes this`);
          pane.running = false;
          this.soon();
        }),
      );
  }
}

function cleanForPane(s: string): string {
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?');
}

function overlayKeys(o: Overlay): string {
  switch (o.kind) {
    case 'help':
      return 'Esc close';
    case 'confirm':
      return 'y confirm  n cancel';
    case 'choose':
      return '↑↓ choose  ⏎ select  Esc cancel';
    case 'output':
      return o.running ? 'running…  Esc hides this' : '⏎/Esc close';
  }
}

function helpLines(actions: { key: string; label: string }[]): string[] {
  const all = [
    ...NAV_KEYS,
    { key: 'j k', label: 'move (in the full-screen log: scroll)' },
    { key: 'PgUp PgDn', label: 'scroll the log back and forth' },
    { key: 'G End', label: 'back to the end of the log, following' },
    { key: 'Esc', label: 'leave the full-screen log, clear the search' },
    { key: 'Ctrl-C', label: 'quit' },
    ...actions.map((a) => ({ key: a.key, label: `${a.label} (asks first)` })),
  ];
  return all.map((k) => `  ${k.key.padEnd(10)} ${k.label}`);
}

/** One line of what slipway did, for the log pane. */
export function describeEvent(e: ServiceEvent): string {
  switch (e.type) {
    case 'deploy-started':
      return `deploy ${e.release} of ${e.commit.slice(0, 7)} started by ${e.user}`;
    case 'deploy-step':
      return `deploy ${e.release}: ${e.step}${e.detail ? ` ${e.detail}` : ''}`;
    case 'deploy-finished':
      return `deploy ${e.release} ${e.ok ? 'finished' : `failed: ${e.error ?? 'unknown'}`} (${(e.ms / 1000).toFixed(1)} s)`;
    case 'process-started':
      return `${e.process.runner}.${e.process.index} started (pid ${e.process.pid ?? '-'})`;
    case 'process-exited':
      return `${e.process.runner}.${e.process.index} exited; restarting`;
    case 'process-restarted':
      return `${e.process.runner}.${e.process.index} restarted (pid ${e.process.pid ?? '-'})`;
    case 'process-crash-loop':
      return `${e.process.runner}.${e.process.index} is crash-looping`;
    case 'operation':
      return `${e.what} by ${e.user} ${e.phase === 'started' ? 'started' : e.ok ? 'finished' : 'failed'}`;
    case 'process-stopped':
      return `${e.process.runner}.${e.process.index} stopped`;
    case 'config-applied':
      return 'config applied';
    case 'config-refused':
      return `config on disk refused: ${e.problems[0] ?? ''}`;
  }
}
