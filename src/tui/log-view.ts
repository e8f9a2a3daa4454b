/**
 * The log pane's state: a bounded scroll-back of lines, following the end or held at a place,
 * and a search that keeps only the lines containing the term. Pure: the screen paints what
 * `window` returns.
 */

const KEEP_LINES = 5000;

/** A line from an app or from slipway, made safe for one terminal row: no escapes, no control characters. */
export function cleanLine(text: string): string {
  return text
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)?/g, '')
    .replace(/\t/g, '    ')
    .replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

export class LogView {
  private lines: string[] = [];
  /** lines from the end of the (filtered) list the window's bottom is held at; 0 while following */
  private fromEnd = 0;
  follow = true;
  term = '';

  constructor(private readonly keep = KEEP_LINES) {}

  clear(): void {
    this.lines = [];
    this.fromEnd = 0;
  }

  add(line: string): void {
    this.lines.push(cleanLine(line));
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
    // Held in place (not following): the window stays on the same lines while new ones arrive.
    if (!this.follow && (!this.term || this.matches(line))) this.fromEnd++;
  }

  private matches(line: string): boolean {
    return line.toLowerCase().includes(this.term.toLowerCase());
  }

  private shown(): string[] {
    return this.term ? this.lines.filter((l) => this.matches(l)) : this.lines;
  }

  /** Scrolls by `n` lines (negative: back); scrolling back stops following, reaching the end resumes it. */
  scroll(n: number, height: number): void {
    const max = Math.max(0, this.shown().length - height);
    this.fromEnd = Math.min(max, Math.max(0, this.fromEnd - n));
    this.follow = this.fromEnd === 0;
  }

  toEnd(): void {
    this.fromEnd = 0;
    this.follow = true;
  }

  toggleFollow(): void {
    if (this.follow) this.follow = false;
    else this.toEnd();
  }

  search(term: string): void {
    this.term = term;
    this.fromEnd = 0;
  }

  /** The `height` lines to show, and how many lines there are to scroll through. */
  window(height: number): { lines: string[]; total: number; fromEnd: number } {
    const all = this.shown();
    const end = all.length - this.fromEnd;
    return { lines: all.slice(Math.max(0, end - height), end), total: all.length, fromEnd: this.fromEnd };
  }
}
