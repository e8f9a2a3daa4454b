import blessed from 'blessed';
import type { Tone } from './model.ts';

/**
 * Text to blessed's tagged markup: every string from the service or a user is escaped here
 * (a `{` in a log line must not become a tag), cut to its width, and coloured by tone.
 */

const TONE_TAG: Record<Tone, string> = { ok: 'green-fg', warn: 'yellow-fg', bad: 'red-fg', busy: 'cyan-fg', idle: 'gray-fg' };

export function esc(s: string): string {
  return blessed.escape(s);
}

/** Cut to `width` columns, with `…` where it was cut. */
export function fit(s: string, width: number): string {
  if (width <= 0) return '';
  return s.length > width ? `${s.slice(0, Math.max(0, width - 1))}…` : s;
}

export function paint(text: string, tone: Tone): string {
  return `{${TONE_TAG[tone]}}${esc(text)}{/${TONE_TAG[tone]}}`;
}

/** `line` escaped, with the first occurrence of `term` (any case) marked by `tags` (`yellow-bg`, `black-fg`). */
export function highlight(line: string, term: string, tags: string[]): string {
  const at = term ? line.toLowerCase().indexOf(term.toLowerCase()) : -1;
  if (at < 0) return esc(line);
  const open = tags.map((t) => `{${t}}`).join('');
  const close = [...tags].reverse().map((t) => `{/${t}}`).join('');
  return `${esc(line.slice(0, at))}${open}${esc(line.slice(at, at + term.length))}${close}${esc(line.slice(at + term.length))}`;
}
