/** Terminal styling for command output: colour only when the session has a pty, so pipes and scripts get plain text. */

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

/** A painter for one session: the identity without a pty. */
export function painter(tty: boolean): (colour: Colour, text: string) => string {
  return tty ? (colour, text) => `\x1b[${CODES[colour]}m${text}\x1b[0m` : (_colour, text) => text;
}

/** `42s`, `3m12s`, `2h05m`, `3d04h`: an age or an uptime in two units at most. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** `2026-12-02T01:02:03Z`: times in output are UTC to the second. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Writes one JSON document (the `--json` shapes are documented in docs/commands.md). */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
