import blessed from 'blessed';
import type { Readable, Writable } from 'node:stream';
import type { TerminalInput, TerminalOutput } from './terminal.ts';

/** blessed's two classes that install process-wide handlers when their first instance is made. */
type Handlers = Record<string, unknown> & { _bound?: boolean };
const Screen = (blessed as unknown as { Screen: Handlers }).Screen;
const Program = (blessed as unknown as { Program: Handlers }).Program;
const SCREEN_HANDLERS = ['_exceptionHandler', '_sigtermHandler', '_sigintHandler', '_sigquitHandler', '_exitHandler'];
const noop = () => {};

/**
 * Environment variables blessed reads from the process to guess the terminal: the gateway's
 * own terminal, not the client's. TMUX even makes it run `tmux -V` synchronously.
 */
const TERMINAL_GUESSES = ['TMUX', 'TERM_PROGRAM', 'ITERM_SESSION_ID', 'COLORTERM', 'TERMINATOR_UUID', 'VTE_VERSION', 'BLESSED_FORCE_MODES'];

/**
 * A blessed screen on one session's terminal. blessed's first screen would install handlers on
 * the process (exit on an uncaught exception, on SIGTERM/SIGINT/SIGQUIT, flush on exit): one
 * dashboard must never be able to end the gateway, so they are marked as installed already.
 * blessed clears the marks when its last screen goes, so they are set before every screen.
 */
/**
 * Destroys a screen. When blessed's last screen goes it removes the handlers it believes it
 * installed: they are given as functions that were never added, so removing them is harmless.
 */
export function closeScreen(screen: blessed.Widgets.Screen): void {
  for (const name of SCREEN_HANDLERS) Screen[name] ??= noop;
  Program._exitHandler ??= noop;
  screen.destroy();
}

export function openScreen(input: TerminalInput, output: TerminalOutput): blessed.Widgets.Screen {
  Screen._bound = true;
  Program._bound = true;
  const saved = new Map<string, string | undefined>();
  for (const name of TERMINAL_GUESSES) {
    saved.set(name, process.env[name]);
    delete process.env[name];
  }
  try {
    const screen = blessed.screen({
      input: input as unknown as Writable,
      output: output as unknown as Readable,
      // What `ssh -t` clients emulate; blessed must not take the gateway's own TERM.
      terminal: 'xterm-256color',
      fullUnicode: true,
      // The gateway's LANG says nothing about the client; ssh clients today speak UTF-8.
      forceUnicode: true,
      smartCSR: true,
      warnings: false,
      autoPadding: true,
      // Resizes arrive as window-change requests, already one per change.
      resizeTimeout: 0,
    });
    // Lines drawn as UTF-8 characters, not the VT100 alternate character set: the same on
    // every UTF-8 client (mosh and some emulators mangle ACS) and readable in a pane capture.
    (screen.program as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;
    return screen;
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
