import { esc, fit, highlight, paint } from './markup.ts';
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

/** The log lines cut to the pane's width, the search term marked in each. */
export function logText(lines: string[], term: string, width: number): string {
  return lines.map((l) => highlight(fit(l, width), term, ['yellow-bg', 'black-fg'])).join('\n');
}

export function lines(text: string[], width: number): string {
  return text.map((l) => esc(fit(l, width))).join('\n');
}
