import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../lib/log.ts';

const TAIL_LINES = 15;
const INDENT = '       ';

/**
 * What a deploy tells the pusher: a headed section per step with its duration, command output
 * indented under it. Everything also goes to the release's deploy log and, if configured, to
 * pyPaaS's `deploy_logger_cmd`.
 */
export class DeployReport {
  private file: number;
  private logger: ChildProcess | null = null;
  private stepName = '';
  private stepStart = 0;
  private tail: string[] = [];
  private partial = '';
  /** milliseconds per step (and sub-step), for the gateway log and the benchmark */
  readonly durations: Record<string, number> = {};

  constructor(
    private readonly out: (text: string) => void,
    logFile: string,
    loggerCmd: string | undefined,
    env: Record<string, string>,
    private readonly log: Logger,
  ) {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    this.file = fs.openSync(logFile, 'a');
    if (loggerCmd) {
      // deploy_logger_cmd is the admin's own shell command (pyPaaS): it gets the output on stdin.
      this.logger = spawn('/bin/sh', ['-c', loggerCmd], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      this.logger.on('error', (err) => log.warn('deploy_logger_cmd failed', { error: err.message }));
      this.logger.stdin!.on('error', () => {});
    }
  }

  private emit(line: string): void {
    const text = line + '\n';
    this.out(text);
    try {
      fs.writeSync(this.file, text);
    } catch (err) {
      this.log.warn('cannot write deploy log', { error: (err as Error).message });
    }
    if (this.logger?.stdin?.writable) this.logger.stdin.write(text);
  }

  step(name: string, detail = ''): void {
    this.flushPartial();
    this.stepName = name;
    this.stepStart = Date.now();
    this.tail = [];
    this.emit(`-----> ${name}${detail ? ` ${detail}` : ''}`);
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

  /** Raw command output; split into indented lines, the last few kept for a failure report. */
  output(chunk: string): void {
    const lines = (this.partial + chunk).split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.outputLine(l);
  }

  private outputLine(l: string): void {
    this.tail.push(l);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    this.emit(INDENT + l);
  }

  private flushPartial(): void {
    if (this.partial) this.outputLine(this.partial);
    this.partial = '';
  }

  /** The current step failed: say which, why, and repeat the tail of its output. */
  fail(reason: string): void {
    this.flushPartial();
    this.emit(`!----> ${this.stepName} failed: ${reason} (${seconds(Date.now() - this.stepStart)})`);
    if (this.tail.length) {
      this.emit(`${INDENT}last ${this.tail.length} line${this.tail.length === 1 ? '' : 's'} of output:`);
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
    fs.closeSync(this.file);
    this.logger?.stdin?.end();
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
