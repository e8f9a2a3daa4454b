/**
 * Text from clients (login names, version strings, key comments, error messages quoting them)
 * made safe for a one-line log: nothing that ends the line or drives a terminal, and a bounded
 * length. Pure, so the hostile cases have unit tests.
 */

/** Longest field value kept; the rest is replaced by a count. */
export const MAX_LOG_VALUE = 256;

/**
 * C0 and C1 controls, DEL, and the invisible formatting characters that reorder or hide text
 * (bidi overrides, marks and isolates, zero-width space, BOM; not the joiners that emoji and
 * several scripts need): all written as \xNN or \u{N}.
 * Backslash is doubled, so an escape in the output always came from us.
 */
const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function escapeText(text: string, max = MAX_LOG_VALUE): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  const escaped = cut.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`);
  });
  return text.length > max ? `${escaped}…(+${text.length - max} chars)` : escaped;
}
