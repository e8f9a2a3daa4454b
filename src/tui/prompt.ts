/**
 * The one-line prompt on the footer row (`/` search, `&` filter, `:` jump): what a key does to
 * the text being typed. Pure, so the dashboard only acts on `submit` and `cancel`.
 */
import { isEnter } from './keymap.ts';

const MAX_LENGTH = 100;

export type PromptKind = 'search' | 'filter' | 'jump';

export const PROMPT_SIGN: Record<PromptKind, string> = { search: '/', filter: '&', jump: ':' };

export type PromptResult = { submit: string } | { cancel: true } | { text: string } | { ignored: true };

/** `complete` gives what Tab appends to the text (the jump's completion). */
export function promptKey(text: string, ch: string | undefined, name: string | undefined, complete?: (text: string) => string): PromptResult {
  if (isEnter(name)) return { submit: text };
  if (name === 'escape') return { cancel: true };
  if (name === 'backspace') return { text: text.slice(0, -1) };
  if (name === 'tab') return complete ? { text: (text + complete(text)).slice(0, MAX_LENGTH) } : { ignored: true };
  if (ch && ch >= ' ' && ch !== '\x7f' && text.length < MAX_LENGTH) return { text: text + ch };
  return { ignored: true };
}
