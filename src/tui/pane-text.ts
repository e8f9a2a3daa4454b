import { esc, fit, highlight, paint } from './markup.ts';
import type { LogWindow } from './log-view.ts';
import { header, type Snapshot, type TreeRow } from './model.ts';

/**
 * What each pane shows, as blessed markup: pure functions of the view models and the pane's
 * size, so the dashboard only decides when to paint.
 */

/** The header row: white on blue while the config is applied, red when the config on disk was refused. */
export function headerText(s: Snapshot, cols: number): string {
  const h = header(s);
  return h.tone === 'ok' ? `{white-fg}${esc(fit(` ${h.text}`, cols))}{/white-fg}` : paint(fit(` ${h.text}`, cols), 'bad');
}

/** The tree rows that fit, scrolled to keep the selected one in the middle, the selected one inverse. */
export function treeText(rows: TreeRow[], selected: string | undefined, width: number, height: number): string {
  const i = Math.max(0, rows.findIndex((r) => r.key === selected));
  const offset = Math.max(0, Math.min(i - Math.floor(height / 2), rows.length - height));
  const lines = rows.slice(offset, offset + height).map((r) => {
    const mark = r.collapsed === undefined ? ' ' : r.collapsed ? '+' : '-';
    const text = fit(`${'  '.repeat(r.depth)}${mark} ${r.label}`, width - (r.badge ? r.badge.text.length + 1 : 0));
    const line = r.badge ? `${esc(text.padEnd(width - r.badge.text.length))}${paint(r.badge.text, r.badge.tone)}` : esc(text);
    return r.key === selected ? `{inverse}${line}{/inverse}` : line;
  });
  return lines.join('\n') || 'no repos you may read';
}

/** `shop/main web`, `shop/main`, or what to do to see a log. */
export function logSubject(row: TreeRow | undefined): string {
  return row?.branch !== undefined ? `${row.repo}/${row.branch}${row.runner ? ` ${row.runner}` : ''}` : 'select a branch or runner';
}

/** The log lines cut to the pane's width, the term marked in each; the `current` row (the search's match) marked inverse. */
export function logText(lines: string[], term: string, width: number, current?: number): string {
  return lines.map((l, i) => highlight(fit(l, width), term, i === current ? ['inverse'] : ['yellow-bg', 'black-fg'])).join('\n');
}

/** What the log pane's label says after the subject: following or paused, the filter, the search and its match. */
export function logState(w: LogWindow, follow: boolean, filter: string, find: string): string {
  const state = follow ? 'following' : `paused, ${w.fromEnd} newer`;
  const parts = [`(${state})`];
  if (filter) parts.push(`&${filter}`);
  if (find) parts.push(`/${find}${w.match ? ` ${w.match.at}/${w.match.of}` : ''}`);
  return parts.join('  ');
}

/** The prompt being typed, a cursor, and (for `:`) the completion Tab would take, dimmed. */
export function promptText(sign: string, text: string, completion: string, cols: number): string {
  const typed = fit(`${sign}${text}`, cols - 1);
  const rest = completion.slice(0, Math.max(0, cols - 1 - typed.length));
  return `${esc(typed)}{inverse}${esc(rest.slice(0, 1) || ' ')}{/inverse}${rest.length > 1 ? `{gray-fg}${esc(rest.slice(1))}{/gray-fg}` : ''}`;
}

/** Plain lines, escaped and cut to the width. */
export function plainLines(text: string[], width: number): string {
  return text.map((l) => esc(fit(l, width))).join('\n');
}
