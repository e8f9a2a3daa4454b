/**
 * The dashboard's view models: plain data in (a snapshot of what the service says), plain lines
 * out. No terminal, no service: unit-tested as they are, and the screen only paints them.
 */

export type Tone = 'ok' | 'warn' | 'bad' | 'busy' | 'idle';

export interface RunnerInfo {
  name: string;
  type: string;
  /** processes the config asks for (0 for NginxStatic) */
  count: number;
}

export interface ProcessInfo {
  runner: string;
  index: number;
  release: string;
  state: 'running' | 'backoff' | 'crash-loop' | 'stopping';
  pid: number | null;
  port?: number;
  startedAt: number;
  restarts: number;
  /** from /proc: CPU use since the previous sample (percent of one core) and resident memory */
  cpuPercent?: number;
  rssBytes?: number;
}

export interface ReleaseInfo {
  id: string;
  commit: string;
  user: string;
  time: number;
  durationMs: number;
  /** what made it: the commit's subject, `rollback to r2`, `config: env X changed` */
  what?: string;
}

export interface BranchInfo {
  repo: string;
  branch: string;
  runners: RunnerInfo[];
  /** oldest first */
  releases: ReleaseInfo[];
  current: string | null;
  /** a deploy, restart or rollback holding the branch now */
  activity: { what: string; user: string; started: number } | null;
  lastDeploy: { release: string; ok: boolean; error?: string; at: number } | null;
  processes: ProcessInfo[];
  /** the access decision for `operate` on this repo (restart, rebuild, rollback, custom commands) */
  mayOperate: boolean;
  customCmds: string[];
}

export interface Snapshot {
  host: string;
  user: string;
  role: string;
  version: string;
  config: { applied: true } | { applied: false; problems: string[] };
  branches: BranchInfo[];
  now: number;
}

/**
 * `<1m`, `5m`, `3h`, `2d`: short enough for a tree row at 80 columns, and changing at most once a
 * minute, so an idle dashboard has nothing to redraw between its coarse refreshes.
 */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return '<1m';
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

export function header(s: Snapshot): { text: string; tone: Tone } {
  const config = s.config.applied
    ? 'config applied'
    : `config on disk refused: ${s.config.problems[0] ?? 'unknown problem'}${s.config.problems.length > 1 ? ` (+${s.config.problems.length - 1} more)` : ''}`;
  return { text: `slipway ${s.version}  ${s.host}  ${s.user} (${s.role})  ${config}`, tone: s.config.applied ? 'ok' : 'bad' };
}

export interface Badge {
  text: string;
  tone: Tone;
}

const ACTIVITY: Record<string, string> = { deploy: 'deploying', restart: 'restarting', rollback: 'rolling back' };

function activityText(what: string): string {
  return ACTIVITY[what] ?? `${what}…`;
}

/** The state of one runner of a branch, as its badge says it. */
export function runnerBadge(b: BranchInfo, runner: RunnerInfo): Badge {
  if (b.activity) return { text: activityText(b.activity.what), tone: 'busy' };
  if (!b.current) return b.releases.length === 0 ? { text: 'never deployed', tone: 'idle' } : { text: 'stopped', tone: 'idle' };
  if (runner.count === 0) return { text: 'serving', tone: 'ok' };
  const mine = b.processes.filter((p) => p.runner === runner.name && p.release === b.current);
  const running = mine.filter((p) => p.state === 'running').length;
  if (mine.some((p) => p.state === 'crash-loop')) return { text: 'crashed', tone: 'bad' };
  if (mine.some((p) => p.state === 'backoff' || p.state === 'stopping')) return { text: 'restarting', tone: 'warn' };
  if (mine.length === 0) return { text: 'stopped', tone: 'bad' };
  return { text: `running ${running}/${runner.count}`, tone: running === runner.count ? 'ok' : 'warn' };
}

/** `r3 a1b2c3d 5m` or `not deployed`. */
export function releaseLabel(b: BranchInfo, now: number): string {
  const cur = b.releases.find((r) => r.id === b.current);
  return cur ? `${cur.id} ${cur.commit.slice(0, 7)} ${age(now - cur.time)}` : 'not deployed';
}

export type NodeKind = 'repo' | 'branch' | 'runner';

export interface TreeRow {
  /** `repo`, `repo\0branch`, `repo\0branch\0runner` */
  key: string;
  kind: NodeKind;
  depth: number;
  label: string;
  badge?: Badge;
  /** has children, and whether they are hidden */
  collapsed?: boolean;
  repo: string;
  branch?: string;
  runner?: string;
}

export function nodeKey(repo: string, branch?: string, runner?: string): string {
  return [repo, branch, runner].filter((x) => x !== undefined).join('\0');
}

/** repos → branches → runners, in config order, without what `collapsed` hides. */
export function treeRows(s: Snapshot, collapsed: ReadonlySet<string>): TreeRow[] {
  const rows: TreeRow[] = [];
  const repos = [...new Set(s.branches.map((b) => b.repo))];
  for (const repo of repos) {
    const rk = nodeKey(repo);
    rows.push({ key: rk, kind: 'repo', depth: 0, label: repo, collapsed: collapsed.has(rk), repo });
    if (collapsed.has(rk)) continue;
    for (const b of s.branches.filter((x) => x.repo === repo)) {
      const bk = nodeKey(repo, b.branch);
      const busy: Badge | undefined = b.activity ? { text: activityText(b.activity.what), tone: 'busy' } : undefined;
      rows.push({ key: bk, kind: 'branch', depth: 1, label: `${b.branch}  ${releaseLabel(b, s.now)}`, badge: busy, collapsed: b.runners.length ? collapsed.has(bk) : undefined, repo, branch: b.branch });
      if (collapsed.has(bk)) continue;
      for (const r of b.runners) rows.push({ key: nodeKey(repo, b.branch, r.name), kind: 'runner', depth: 2, label: r.name, badge: runnerBadge(b, r), repo, branch: b.branch, runner: r.name });
    }
  }
  return rows;
}

/** The first runner in the tree (what is selected on opening), else the first row. */
export function initialSelection(rows: TreeRow[]): string | undefined {
  return (rows.find((r) => r.kind === 'runner') ?? rows[0])?.key;
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1048576).toFixed(1)}M`;
}

/** One process as a details row: `web.0  1234  :61002  up 5m  ↻0  0.3%  41.2M` (under PROCESS_HEADER). */
export function processLine(p: ProcessInfo, now: number): string {
  const state = p.state === 'running' ? `up ${age(now - p.startedAt)}` : p.state;
  const cpu = p.cpuPercent === undefined ? '-' : `${p.cpuPercent.toFixed(1)}%`;
  return [`${p.runner}.${p.index}`.padEnd(8), String(p.pid ?? '-').padEnd(7), (p.port ? String(p.port) : '-').padEnd(6), state.padEnd(10), String(p.restarts).padStart(3), cpu.padStart(6), mb(p.rssBytes).padStart(7)].join(' ');
}

export const PROCESS_HEADER = ['process'.padEnd(8), 'pid'.padEnd(7), 'port'.padEnd(6), 'state'.padEnd(10), 'rst', '   cpu', '    mem'].join(' ');

const SHOWN_RELEASES = 5;

/** The details pane for the selected row. */
export function detailLines(s: Snapshot, row: TreeRow | undefined): string[] {
  if (!row) return ['nothing to show: no repos you may read'];
  if (row.kind === 'repo') {
    const branches = s.branches.filter((b) => b.repo === row.repo);
    return [`repo ${row.repo}`, '', ...branches.map((b) => `  ${b.branch.padEnd(16)} ${releaseLabel(b, s.now)}`)];
  }
  const b = s.branches.find((x) => x.repo === row.repo && x.branch === row.branch);
  if (!b) return [];
  const lines: string[] = [];
  const runner = row.runner ? b.runners.find((r) => r.name === row.runner) : undefined;
  lines.push(runner ? `${b.repo}/${b.branch} ${runner.name} (${runner.type}, ${runner.count} process${runner.count === 1 ? '' : 'es'})` : `${b.repo}/${b.branch}`);
  if (b.activity) lines.push(`${b.activity.what} by ${b.activity.user}, ${age(s.now - b.activity.started)} so far`);
  if (b.lastDeploy) lines.push(`last deploy ${b.lastDeploy.release}: ${b.lastDeploy.ok ? 'ok' : `failed (${b.lastDeploy.error ?? 'unknown'})`} ${age(s.now - b.lastDeploy.at)} ago`);
  lines.push('');
  const procs = b.processes.filter((p) => !runner || p.runner === runner.name);
  lines.push(procs.length ? `  ${PROCESS_HEADER}` : '  processes: none');
  for (const p of procs) lines.push(`  ${processLine(p, s.now)}${p.release !== b.current ? `  (${p.release})` : ''}`);
  lines.push('', b.releases.length ? 'releases' : 'releases: none yet');
  for (const r of b.releases.slice(-SHOWN_RELEASES).reverse()) {
    lines.push(`  ${r.id === b.current ? '*' : ' '} ${r.id.padEnd(4)} ${r.commit.slice(0, 7)}  ${age(s.now - r.time).padStart(3)} ago  ok  by ${r.user}${r.what ? `  ${r.what}` : ''}`);
  }
  return lines;
}

/** A key the footer and help show, and whether the selected row offers it. */
export interface KeyHint {
  key: string;
  label: string;
}

/** The action keys the user may press on this row: none that the role forbids. */
export function actionKeys(s: Snapshot, row: TreeRow | undefined): KeyHint[] {
  const b = row?.branch !== undefined ? s.branches.find((x) => x.repo === row.repo && x.branch === row.branch) : undefined;
  if (!b?.mayOperate) return [];
  const keys: KeyHint[] = [{ key: 'r', label: 'restart' }, { key: 'b', label: 'rebuild' }];
  if (b.releases.length > 1) keys.push({ key: 'R', label: 'rollback' });
  if (b.customCmds.length) keys.push({ key: 'c', label: 'command' });
  return keys;
}

export const NAV_KEYS: KeyHint[] = [
  { key: '↑↓', label: 'move' },
  { key: '⏎', label: 'open' },
  { key: ':', label: 'jump' },
  { key: 'l', label: 'logs' },
  { key: '/', label: 'search' },
  { key: 'f', label: 'follow' },
  { key: '?', label: 'help' },
  { key: 'q', label: 'quit' },
];

/** Shown after a `/` search, before the other navigation keys. */
const MATCH_KEYS: KeyHint = { key: 'n N', label: 'next/prev' };

/**
 * The keys line: actions first, then navigation (with `n N` while a search is on); narrow
 * terminals lose navigation keys before `? help` and `q quit`.
 */
export function footer(actions: KeyHint[], width = Infinity, searching = false): string {
  const nav = searching ? [MATCH_KEYS, ...NAV_KEYS] : [...NAV_KEYS];
  const text = () => [...actions, ...nav].map((k) => `${k.key} ${k.label}`).join('  ');
  while (text().length > width && nav.length > 2) nav.splice(nav.length - 3, 1);
  return text();
}
