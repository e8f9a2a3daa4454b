/**
 * One line of an app log as log-writer.sh writes it: `<UTC time with µs> <release> <text>`.
 * Writers of slipway versions before the release tag wrote `<UTC time with ms> <text>`; a process
 * adopted from such a version goes on writing that until it restarts. The two differ in the
 * timestamp (6 against 3 digits after the second), so no line of one reads as the other.
 */
export interface ParsedLogLine {
  /** microseconds since the epoch; NaN when the line has no timestamp (a file someone edited) */
  time: number;
  /** the release whose process printed it; null in lines of the old format */
  release: string | null;
  text: string;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})(\d{3})?Z (.*)$/s;

export function parseLogLine(line: string): ParsedLogLine {
  const m = LINE.exec(line);
  if (!m) return { time: NaN, release: null, text: line };
  const time = Date.parse(`${m[1]}Z`) * 1000 + Number(m[2] ?? 0);
  if (m[2] === undefined) return { time, release: null, text: m[3]! };
  const space = m[3]!.indexOf(' ');
  // A writer always puts the tag and its space; without one the line was cut by hand.
  if (space < 0) return { time, release: m[3]!, text: '' };
  return { time, release: m[3]!.slice(0, space), text: m[3]!.slice(space + 1) };
}
