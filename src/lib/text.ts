/** Text from a client made safe for one log or terminal line: printable ASCII only (others become '?'), at most `max` characters. */
export function printable(s: string, max = 200): string {
  return s.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
}
