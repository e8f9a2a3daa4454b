import { isEnter } from './keymap.ts';
import { esc, fit } from './markup.ts';
import { NAV_KEYS, type KeyHint } from './model.ts';

/**
 * The pop-ups over the dashboard: the keys (`?`), a confirmation, a list to choose from
 * (releases, custom commands) and the output of a running action. Each is plain data; the
 * functions here say what a key does to one and what it shows.
 */
export type Overlay =
  | { kind: 'help' }
  | { kind: 'confirm'; question: string; argv: string[] }
  | { kind: 'choose'; title: string; items: { label: string; argv: string[]; question: string }[]; index: number }
  | { kind: 'output'; title: string; lines: string[]; running: boolean };

export type OutputPane = Overlay & { kind: 'output' };

/** What a key does to the pop-up: nothing (ignored), replace it (null closes it), or run a confirmed command. */
export type OverlayResult = { ignored: true } | { overlay: Overlay | null } | { run: { title: string; argv: string[] } };

export function overlayKey(o: Overlay, ch: string | undefined, name: string | undefined): OverlayResult {
  const escape = name === 'escape' || ch === 'q';
  switch (o.kind) {
    case 'confirm':
      if (ch === 'y' || ch === 'Y') return { run: { title: o.question.replace(/\?$/, ''), argv: o.argv } };
      if (ch === 'n' || ch === 'N' || escape) return { overlay: null };
      return { ignored: true };
    case 'choose':
      if (name === 'down' || ch === 'j') return { overlay: { ...o, index: Math.min(o.items.length - 1, o.index + 1) } };
      if (name === 'up' || ch === 'k') return { overlay: { ...o, index: Math.max(0, o.index - 1) } };
      if (isEnter(name)) {
        const it = o.items[o.index];
        return it ? { overlay: { kind: 'confirm', question: it.question, argv: it.argv } } : { ignored: true };
      }
      return escape ? { overlay: null } : { ignored: true };
    case 'help':
      return escape || ch === '?' ? { overlay: null } : { ignored: true };
    case 'output':
      // A running action goes on when its pane is hidden; its result is in the audit log and the tree.
      return escape || (!o.running && isEnter(name)) ? { overlay: null } : { ignored: true };
  }
}

/** The footer while a pop-up is open. */
export function overlayKeys(o: Overlay): string {
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

/** Every key, one a line: the pop-up is made tall enough for all of them (18 with every action, 20 rows at 80x24). */
export function helpLines(actions: KeyHint[]): string[] {
  const label: Record<string, string> = { ':': 'jump to repo[/branch[/runner]], Tab completes', q: 'quit (also Ctrl-C)' };
  const all = [
    ...NAV_KEYS.map((k) => ({ key: k.key, label: label[k.key] ?? k.label })),
    { key: 'n N', label: 'next / previous match of the / search' },
    { key: '&', label: 'filter: keep only log lines with a term' },
    { key: 'j k', label: 'move (in the full-screen log: scroll)' },
    { key: 'PgUp PgDn', label: 'scroll the log back and forth' },
    { key: 'G End', label: 'back to the end of the log, following' },
    { key: 'Esc', label: 'leave full-screen log; clear search, filter' },
    ...actions.map((a) => ({ key: a.key, label: `${a.label} (asks first)` })),
  ];
  return all.map((k) => `  ${k.key.padEnd(10)} ${k.label}`);
}

/** The pop-up's label and content (markup) for its inner size. */
export function overlayText(o: Overlay, actions: KeyHint[], width: number, height: number): { label: string; content: string } {
  const line = (s: string) => esc(fit(s, width));
  switch (o.kind) {
    case 'help':
      return { label: ' keys ', content: helpLines(actions).map(line).join('\n') };
    case 'confirm':
      return { label: ' confirm ', content: ['', line(o.question), '', line('y: yes   n / Esc: no')].join('\n') };
    case 'choose':
      return { label: ` ${esc(o.title)} `, content: o.items.map((it, i) => (i === o.index ? `{inverse}${line(it.label)}{/inverse}` : line(it.label))).join('\n') };
    case 'output':
      return { label: ` ${esc(o.title)}${o.running ? ' (running)' : ''} `, content: o.lines.slice(-height).map(line).join('\n') };
  }
}
