import type { PromptKind } from './prompt.ts';

/**
 * The dashboard's keys outside prompts and pop-ups, as commands: which key means what is decided
 * here alone, and the help and footer list the same keys.
 */
export type Command =
  | { do: 'quit' }
  | { do: 'help' }
  | { do: 'full-log' }
  | { do: 'follow' }
  | { do: 'prompt'; kind: PromptKind }
  | { do: 'match'; dir: 1 | -1 }
  | { do: 'move'; by: number }
  | { do: 'scroll'; pages: number }
  | { do: 'scroll-lines'; by: number }
  | { do: 'end' }
  | { do: 'expand' }
  | { do: 'back' }
  | { do: 'action'; key: string };

const ACTION_KEYS = new Set(['r', 'b', 'R', 'c']);

/**
 * The Enter key. blessed reports one press twice, as `enter` and then as `return`: only
 * `return` counts, or Enter would open and close a row in one press.
 */
export function isEnter(name: string | undefined): boolean {
  return name === 'return';
}

/** `fullLog`: j/k and the arrows scroll the log instead of moving in the tree. */
export function keyCommand(ch: string | undefined, name: string | undefined, fullLog: boolean): Command | null {
  const upDown = (by: number): Command => (fullLog ? { do: 'scroll-lines', by } : { do: 'move', by });
  if (ch && ACTION_KEYS.has(ch)) return { do: 'action', key: ch };
  switch (ch ?? name) {
    case 'q':
      return { do: 'quit' };
    case '?':
      return { do: 'help' };
    case 'l':
      return { do: 'full-log' };
    case 'f':
      return { do: 'follow' };
    case '/':
      return { do: 'prompt', kind: 'search' };
    case '&':
      return { do: 'prompt', kind: 'filter' };
    case ':':
      return { do: 'prompt', kind: 'jump' };
    case 'n':
      return { do: 'match', dir: 1 };
    case 'N':
      return { do: 'match', dir: -1 };
    case 'j':
      return upDown(1);
    case 'k':
      return upDown(-1);
    case 'G':
      return { do: 'end' };
  }
  switch (name) {
    case 'down':
      return upDown(1);
    case 'up':
      return upDown(-1);
    case 'pageup':
      return { do: 'scroll', pages: -1 };
    case 'pagedown':
      return { do: 'scroll', pages: 1 };
    case 'end':
      return { do: 'end' };
    case 'return':
    case 'space':
      return { do: 'expand' };
    case 'escape':
      return { do: 'back' };
  }
  return null;
}
