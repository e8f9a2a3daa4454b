/**
 * The dashboard through a real terminal: the real OpenSSH client (`ssh -t`) inside a detached
 * tmux window of a given size, read back with `tmux capture-pane`. Each dashboard has its own
 * tmux server (socket), killed on close.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { requireTools, waitUntil, type Instance } from './instance.ts';

requireTools({ tmux: 'tmux' });

export class Terminal {
  private readonly socket = `slipway-tui-${crypto.randomBytes(5).toString('hex')}`;
  private open = true;

  constructor(inst: Instance, user: string, cols = 100, rows = 30) {
    const ssh = `${inst.sshCommand(user)} -t -p ${inst.port} paas@127.0.0.1`;
    this.tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'tui', '-x', String(cols), '-y', String(rows), `${ssh}; echo "[ssh exited $?]"; sleep 600`);
  }

  private tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm-256color', TMUX: '' } });
    if (r.status !== 0) throw new Error(`tmux ${args[0]} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** What the terminal shows now, one string per row. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', 'tui');
  }

  size(): { cols: number; rows: number } {
    const [cols, rows] = this.tmux('display-message', '-p', '-t', 'tui', '#{pane_width} #{pane_height}').trim().split(' ').map(Number);
    return { cols: cols!, rows: rows! };
  }

  /** Waits until the screen matches; the failure shows the screen. */
  async waitFor(pattern: RegExp, what: string, timeoutMs = 10_000): Promise<string> {
    return waitUntil(what, () => this.screen(), (s) => pattern.test(s), timeoutMs, 50).catch((err: Error) => {
      throw new Error(`${err.message.slice(0, 200)}\n--- screen ---\n${this.screen()}`);
    });
  }

  /** Keys as tmux names them (`r`, `y`, `Enter`, `Escape`, `Down`, `C-c`), or literal text with `literal`. */
  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'tui', ...keys);
  }

  type(text: string): void {
    this.tmux('send-keys', '-t', 'tui', '-l', text);
  }

  resize(cols: number, rows: number): void {
    this.tmux('resize-window', '-t', 'tui', '-x', String(cols), '-y', String(rows));
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    try {
      this.tmux('kill-server');
    } catch {
      /* already gone */
    }
  }
}

/** The row of the screen that contains `text`. */
export function rowWith(screen: string, text: string): string {
  const row = screen.split('\n').find((l) => l.includes(text));
  assert.ok(row !== undefined, `no row with '${text}' on the screen:\n${screen}`);
  return row;
}
