/**
 * The one-line prompt on the footer row (`/` search): what a key does to the text being typed.
 * Pure, so the dashboard only acts on `submit` and `cancel`.
 */
const MAX_LENGTH = 100;

export type PromptResult = { submit: string } | { cancel: true } | { text: string } | { ignored: true };

export function promptKey(text: string, ch: string | undefined, name: string | undefined): PromptResult {
  if (name === 'enter' || name === 'return') return { submit: text };
  if (name === 'escape') return { cancel: true };
  if (name === 'backspace') return { text: text.slice(0, -1) };
  if (ch && ch >= ' ' && ch !== '\x7f' && text.length < MAX_LENGTH) return { text: text + ch };
  return { ignored: true };
}
