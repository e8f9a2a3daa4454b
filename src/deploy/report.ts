import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../lib/log.ts';

const TAIL_LINES = 15;
const INDENT = '       ';
/** A longer line of command output is cut here (binary output has no newlines at all). */
const MAX_LINE = 4096;
/** Command output waiting for a slow reader (the pusher, deploy_logger_cmd) beyond this is dropped, and counted. */
const MAX_BACKLOG = 1024 * 1024;
const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;
const PUSHER_BATCH = 32 * 1024;

/** Where the pusher's text goes; `backlog` says how many bytes it has not sent yet. */
export type Pusher = ((text: string) => void) & { backlog?: () => number };

/** Lines one reader did not get. */
class Dropped {
  lines = 0;
  bytes = 0;
  add(text: string): void {
    this.lines++;
    this.bytes += Buffer.byteLength(text);
  }
  /** The note, once, then zero again. */
  take(why: string): string | null {
    if (this.lines === 0) return null;
    const note = `[slipway: ${this.lines} line${this.lines === 1 ? '' : 's'} (${this.bytes} bytes) of output dropped here: ${why}]`;
    this.lines = this.bytes = 0;
    return note;
  }
}

/**
 * What a deploy tells the pusher: a headed section per step with its duration, command output
 * indented under it. Everything also goes to the release's deploy log and, if configured, to
 * pyPaaS's `deploy_logger_cmd`. Command output is streamed, never kept (only the last lines, for
 * a failure report): what a reader cannot take as fast as the build prints is dropped with a note
 * saying how much, and the deploy log stops taking output at its size limit, with a note.
 * Slipway's own lines (steps, errors, the summary) always get through.
 */
export class DeployReport {
  private fileBytes = 0;
  private pusherBuffer = '';
  private pusherFlush: NodeJS.Immediate | undefined;
  private readonly maxLogBytes: number;
  private readonly droppedForPusher = new Dropped();
  private readonly droppedForLogger = new Dropped();
  private readonly droppedForFile = new Dropped();
  private file: number;
  private logger: ChildProcess | null = null;
  private stepName = '';
  private stepStart = 0;
  private tail: string[] = [];
  /** output lines of the current step */
  private lines = 0;
  private partial = '';
  /** milliseconds per step (and sub-step), for the gateway log and the benchmark */
  readonly durations: Record<string, number> = {};

  constructor(
    private readonly out: Pusher,
    logFile: string,
    loggerCmd: string | undefined,
    env: Record<string, string>,
    private readonly log: Logger,
    private readonly onStep: (name: string, detail: string) => void = () => {},
    opts: { maxLogBytes?: number } = {},
  ) {
    this.maxLogBytes = opts.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    this.file = fs.openSync(logFile, 'a');
    if (loggerCmd) {
      // deploy_logger_cmd is the admin's own shell command (pyPaaS): it gets the output on stdin.
      this.logger = spawn('/bin/sh', ['-c', loggerCmd], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      this.logger.on('error', (err) => log.warn('deploy_logger_cmd failed', { error: err.message }));
      this.logger.stdin!.on('error', () => {});
    }
  }

  /** One of slipway's own lines: to every reader, after the notes of what each missed. */
  private emit(line: string): void {
    this.toPusher(line + '\n', false);
    this.toFile(line + '\n', false);
    this.toLogger(line + '\n', false);
  }

  /** A line of command output: a reader that lags too far behind misses it. */
  private emitOutput(line: string): void {
    this.toPusher(line + '\n', true);
    this.toFile(line + '\n', true);
    this.toLogger(line + '\n', true);
  }

  private toPusher(text: string, droppable: boolean): void {
    if (droppable && (this.out.backlog?.() ?? 0) + this.pusherBuffer.length > MAX_BACKLOG) return this.droppedForPusher.add(text);
    const note = this.droppedForPusher.take('your connection was slower than the build; the deploy log has them');
    if (note) this.pusherBuffer += `${INDENT}${note}\n`;
    this.pusherBuffer += text;
    // One SSH packet per line would cap the throughput far below what a build prints: batch.
    if (this.pusherBuffer.length >= PUSHER_BATCH) this.flushPusher();
    else this.pusherFlush ??= setImmediate(() => this.flushPusher());
  }

  private flushPusher(): void {
    if (this.pusherFlush) clearImmediate(this.pusherFlush);
    this.pusherFlush = undefined;
    const text = this.pusherBuffer;
    this.pusherBuffer = '';
    if (text) this.out(text);
  }

  private toFile(text: string, droppable: boolean): void {
    if (droppable && this.fileBytes >= this.maxLogBytes) return this.droppedForFile.add(text);
    const note = this.droppedForFile.take(`the deploy log is capped at ${this.maxLogBytes} bytes`);
    try {
      if (note) fs.writeSync(this.file, `${INDENT}${note}\n`);
      if (text) this.fileBytes += fs.writeSync(this.file, text);
    } catch (err) {
      this.log.warn('cannot write deploy log', { error: (err as Error).message });
    }
  }

  private toLogger(text: string, droppable: boolean): void {
    const stdin = this.logger?.stdin;
    if (!stdin?.writable) return;
    if (droppable && stdin.writableLength > MAX_BACKLOG) return this.droppedForLogger.add(text);
    const note = this.droppedForLogger.take('deploy_logger_cmd read slower than the build');
    if (note) stdin.write(`${INDENT}${note}\n`);
    if (text) stdin.write(text);
  }

  step(name: string, detail = ''): void {
    this.flushPartial();
    this.stepName = name;
    this.stepStart = Date.now();
    this.tail = [];
    this.lines = 0;
    this.emit(`-----> ${name}${detail ? ` ${detail}` : ''}`);
    this.onStep(name, detail);
  }

  /** Ends the current step with its duration. */
  done(note = ''): void {
    this.flushPartial();
    this.record(this.stepName.toLowerCase(), Date.now() - this.stepStart);
    this.emit(`${INDENT}${note ? `${note} ` : ''}(${seconds(Date.now() - this.stepStart)})`);
  }

  record(name: string, ms: number): void {
    this.durations[name] = ms;
  }

  info(line: string): void {
    this.emit(INDENT + line);
  }

  warn(line: string): void {
    this.emit(`${INDENT}warning: ${line}`);
  }

  /** Raw command output; split into indented lines (cut at MAX_LINE), the last few kept for a failure report. */
  output(chunk: string): void {
    const lines = (this.partial + chunk).split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.outputLine(l);
    while (this.partial.length > MAX_LINE) {
      this.outputLine(this.partial.slice(0, MAX_LINE) + ' [line cut]');
      this.partial = this.partial.slice(MAX_LINE);
    }
  }

  private outputLine(l: string): void {
    if (l.length > MAX_LINE) l = l.slice(0, MAX_LINE) + ' [line cut]';
    this.tail.push(l);
    this.lines++;
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.emitOutput(INDENT + l);
  }

  private flushPartial(): void {
    if (this.partial) this.outputLine(this.partial);
    this.partial = '';
  }

  /**
   * The current step failed: say which and why. Output that scrolled by is summed up by its last
   * lines; output short enough to be still on screen just above is not printed twice. `details`
   * (e.g. the last lines a failing process printed) follow the failure.
   */
  fail(reason: string, details: string[] = []): void {
    this.flushPartial();
    this.emit(`!----> ${this.stepName} failed: ${reason} (${seconds(Date.now() - this.stepStart)})`);
    for (const d of details) this.emit(`${INDENT}${d}`);
    if (this.lines > this.tail.length) {
      this.emit(`${INDENT}last ${this.tail.length} of ${this.lines} lines of output:`);
      for (const l of this.tail) this.emit(`${INDENT}| ${l}`);
    }
  }

  line(text: string): void {
    this.emit(text);
  }

  get currentStep(): string {
    return this.stepName;
  }

  close(): void {
    this.flushPartial();
    // Notes of what was dropped since the last line of slipway's own.
    this.toPusher('', false);
    this.flushPusher();
    this.toFile('', false);
    this.toLogger('', false);
    fs.closeSync(this.file);
    this.logger?.stdin?.end();
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
