/**
 * The log pane's state: a bounded scroll-back of lines, following the end or held at a place; a
 * filter (`&`) that keeps only the lines containing a term, and a search (`/`) that marks the
 * lines containing a term and moves between them (`n`, `N`). Pure: the screen paints what
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

function contains(line: string, term: string): boolean {
  return line.toLowerCase().includes(term.toLowerCase());
}

export interface LogWindow {
  lines: string[];
  /** lines in the (filtered) list */
  total: number;
  fromEnd: number;
  /** the current match's row in `lines`, when it is in the window */
  current?: number;
  /** the current match's place among all matches (1-based), and how many there are */
  match?: { at: number; of: number };
}

/** Line numbers in order, by position. */
interface Lines {
  length: number;
  at(i: number): number;
  indexOf(n: number): number;
}

export class LogView {
  private lines: string[] = [];
  /** the number of lines dropped from the front: a line's number is `first` + its index */
  private first = 0;
  /** lines from the end of the (filtered) list the window's bottom is held at; 0 while following */
  private fromEnd = 0;
  /** the number of the line the search is at, or null */
  private at: number | null = null;
  follow = true;
  filter = '';
  find = '';

  constructor(private readonly keep = KEEP_LINES) {}

  clear(): void {
    this.lines = [];
    this.first = 0;
    this.fromEnd = 0;
    this.at = null;
  }

  add(line: string): void {
    this.lines.push(cleanLine(line));
    if (this.lines.length > this.keep) {
      const drop = this.lines.length - this.keep;
      this.lines.splice(0, drop);
      this.first += drop;
      if (this.at !== null && this.at < this.first) this.at = null;
    }
    // Held in place (not following): the window stays on the same lines while new ones arrive.
    if (!this.follow && (!this.filter || contains(line, this.filter))) this.fromEnd = Math.min(this.fromEnd + 1, this.lines.length);
  }

  /** The numbers of the lines the filter keeps, oldest first (without a filter, all of them, without a copy). */
  private shown(): Lines {
    if (!this.filter) {
      const { first, lines } = this;
      return { length: lines.length, at: (i) => first + i, indexOf: (n) => (n >= first && n < first + lines.length ? n - first : -1) };
    }
    const kept: number[] = [];
    for (let i = 0; i < this.lines.length; i++) if (contains(this.lines[i]!, this.filter)) kept.push(this.first + i);
    return { length: kept.length, at: (i) => kept[i]!, indexOf: (n) => kept.indexOf(n) };
  }

  private text(n: number): string {
    return this.lines[n - this.first]!;
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

  setFilter(term: string): void {
    this.filter = term;
    this.fromEnd = 0;
    if (this.at !== null && term && !contains(this.text(this.at), term)) this.at = null;
  }

  /**
   * Searches for `term` from the bottom of the window upwards (the newest lines are where a log
   * is read from) and scrolls to the match; false when no line has it.
   */
  search(term: string, height: number): boolean {
    this.find = term;
    this.at = null;
    if (!term) return true;
    const shown = this.shown();
    const bottom = Math.max(-1, shown.length - this.fromEnd - 1);
    for (let i = bottom; i >= 0; i--) if (contains(this.text(shown.at(i)), term)) return this.goTo(shown, i, height);
    // Nothing above the window's bottom: the first match below it.
    for (let i = bottom + 1; i < shown.length; i++) if (contains(this.text(shown.at(i)), term)) return this.goTo(shown, i, height);
    return false;
  }

  /** The next match down (`1`) or up (`-1`) from the current one; false when there is none that way. */
  next(dir: 1 | -1, height: number): boolean {
    if (!this.find) return false;
    const shown = this.shown();
    if (this.at === null) return this.search(this.find, height);
    let i = shown.indexOf(this.at);
    if (i < 0) i = dir > 0 ? -1 : shown.length;
    for (let j = i + dir; j >= 0 && j < shown.length; j += dir) if (contains(this.text(shown.at(j)), this.find)) return this.goTo(shown, j, height);
    return false;
  }

  clearSearch(): void {
    this.find = '';
    this.at = null;
  }

  /** Makes line `i` of `shown` the current match and scrolls it into the window (to its middle when it was outside). */
  private goTo(shown: Lines, i: number, height: number): true {
    this.at = shown.at(i);
    const end = shown.length - this.fromEnd;
    if (i < end - height || i >= end) {
      const newEnd = Math.min(shown.length, Math.max(height, i + 1 + Math.floor(height / 2)));
      this.fromEnd = shown.length - newEnd;
      this.follow = this.fromEnd === 0;
    }
    return true;
  }

  /** The `height` lines to show, where the current match is among them, and how many lines there are to scroll through. */
  window(height: number): LogWindow {
    const shown = this.shown();
    const end = shown.length - this.fromEnd;
    const start = Math.max(0, end - height);
    const lines: string[] = [];
    let current: number | undefined;
    for (let i = start; i < end; i++) {
      if (shown.at(i) === this.at) current = i - start;
      lines.push(this.text(shown.at(i)));
    }
    const w: LogWindow = { lines, total: shown.length, fromEnd: this.fromEnd };
    if (this.find && this.at !== null && shown.indexOf(this.at) >= 0) {
      if (current !== undefined) w.current = current;
      let at = 0;
      let of = 0;
      for (let i = 0; i < shown.length; i++) {
        const n = shown.at(i);
        if (!contains(this.text(n), this.find)) continue;
        of++;
        if (n === this.at) at = of;
      }
      w.match = { at, of };
    }
    return w;
  }
}
