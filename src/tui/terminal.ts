import { EventEmitter } from 'node:events';

/**
 * What blessed needs of a terminal, over an SSH channel: an input it reads keys from and an
 * output with `columns`, `rows`, `isTTY`, a `resize` event and `write`. The pty lives on the
 * client's side, so raw mode is already on and `setRawMode` only records the wish.
 *
 * Input is fed synchronously by the session (`feed`), so whatever blessed or our key handlers
 * throw comes back to the session's own try/catch instead of into ssh2's socket handler.
 */
export class TerminalInput extends EventEmitter {
  readonly isTTY = true;
  isRaw = false;
  destroyed = false;

  setRawMode(mode: boolean): this {
    this.isRaw = mode;
    return this;
  }

  resume(): this {
    return this;
  }

  pause(): this {
    return this;
  }

  feed(data: Buffer): void {
    this.emit('data', data);
  }
}

export interface Sink {
  write(data: string): void;
}

export class TerminalOutput extends EventEmitter {
  readonly isTTY = true;
  /** blessed writes nothing to an output that is not writable */
  writable = true;

  constructor(
    private readonly sink: Sink,
    public columns: number,
    public rows: number,
  ) {
    super();
  }

  write(data: string | Buffer): boolean {
    this.sink.write(typeof data === 'string' ? data : data.toString('utf8'));
    return true;
  }

  /** window-change: the new size, then blessed re-lays out and redraws. */
  resize(columns: number, rows: number): void {
    this.columns = Math.max(1, columns);
    this.rows = Math.max(1, rows);
    this.emit('resize');
  }
}
