import { escapeText, MAX_LOG_VALUE } from './log-text.ts';

/** One line per event: time, level, component, message, key=value pairs. Written to stderr. */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: Level = (process.env.SLIPWAY_LOG_LEVEL as Level) in order ? (process.env.SLIPWAY_LOG_LEVEL as Level) : 'info';
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setLogLevel(level: Level): void {
  threshold = level;
}

export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

/** Stacks of our own errors are long; everything else is capped at MAX_LOG_VALUE. */
const LONG_FIELDS = new Set(['error', 'stack']);

/** A field value: escaped (it may come from a client), capped, quoted when it has spaces. */
function fmtValue(key: string, v: unknown): string {
  const raw = typeof v === 'string' ? v : v instanceof Error ? v.message : JSON.stringify(v) ?? String(v);
  const s = escapeText(raw, LONG_FIELDS.has(key) ? 8 * MAX_LOG_VALUE : MAX_LOG_VALUE);
  return /[\s"=]/.test(s) || s === '' ? `"${s.replace(/"/g, '\\"')}"` : s;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function logger(component: string): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < order[threshold]) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${component}: ${escapeText(msg, 4 * MAX_LOG_VALUE)}`;
    if (fields) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === undefined) continue;
        line += ` ${k}=${fmtValue(k, v)}`;
      }
    }
    sink(line);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (c) => logger(`${component}.${c}`),
  };
}
