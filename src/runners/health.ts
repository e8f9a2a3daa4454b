import http from 'node:http';
import net from 'node:net';

export interface HealthTarget {
  port: number;
  /** what the progress notes call it, e.g. `web.0` */
  name?: string;
  /** With a path, healthy means an HTTP 2xx answer to GET path; without, accepting TCP. */
  path?: string;
}

/** `pending`: on a timeout, the targets that never became healthy. */
export type HealthResult = { ok: true } | { ok: false; reason: string; pending?: HealthTarget[] };

/** While targets keep a deploy waiting: what is still pending, how long it has been, and the last problem of each. */
export type HealthProgress = (pending: { target: HealthTarget; problem: string }[], elapsedMs: number) => void;

/** The first progress note after this long, then one every PROGRESS_EVERY_MS: a healthy start says nothing. */
const PROGRESS_FIRST_MS = 1000;
const PROGRESS_EVERY_MS = 5000;

/** Push-to-live time counts: probe almost at once, then back off to the interval. */
const FIRST_INTERVAL_MS = 25;
const DEFAULT_INTERVAL_MS = 250;
const ATTEMPT_TIMEOUT_MS = 2000;
/** Near the deadline an attempt still gets this long, so the last answer is a real one, not a cut-off. */
const MIN_ATTEMPT_MS = 250;

/**
 * Waits until every target on 127.0.0.1 is healthy. Fails as soon as `alive()` turns false
 * (`exitDetail`, if given, says how the process ended, e.g. `code 3`), or at the timeout with
 * the last problem of a target still unhealthy.
 */
export async function waitHealthy(
  targets: HealthTarget[],
  opts: { timeoutMs: number; alive: () => boolean; intervalMs?: number; exitDetail?: () => string | undefined; onProgress?: HealthProgress },
): Promise<HealthResult> {
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  let nextProgress = started + PROGRESS_FIRST_MS;
  const maxInterval = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  let interval = Math.min(FIRST_INTERVAL_MS, maxInterval);
  let pending = targets;
  let lastProblem = '';
  for (;;) {
    if (!opts.alive()) return { ok: false, reason: exitedReason(await detailSoon(opts.exitDetail)) };
    const attemptMs = Math.max(MIN_ATTEMPT_MS, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()));
    const problems = await Promise.all(pending.map((t) => probe(t, attemptMs)));
    const failing = pending.flatMap((target, i) => (problems[i] === undefined ? [] : [{ target, problem: problems[i]! }]));
    pending = failing.map((f) => f.target);
    if (pending.length === 0) return { ok: true };
    lastProblem = failing[0]!.problem;
    if (!opts.alive()) return { ok: false, reason: exitedReason(await detailSoon(opts.exitDetail)) };
    const now = Date.now();
    const left = deadline - now;
    if (left <= 0) return { ok: false, reason: `${lastProblem} after ${opts.timeoutMs / 1000} s`, pending };
    if (opts.onProgress && now >= nextProgress) {
      opts.onProgress(failing, now - started);
      // On the next multiple of the period since the start: 1 s, 5 s, 10 s, …
      nextProgress = started + (Math.floor((now - started) / PROGRESS_EVERY_MS) + 1) * PROGRESS_EVERY_MS;
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, left)));
    interval = Math.min(interval * 2, maxInterval);
  }
}

/** A process seen gone from /proc may not have been reaped yet: its exit status comes moments later. */
async function detailSoon(detail: (() => string | undefined) | undefined): Promise<string | undefined> {
  const end = Date.now() + EXIT_DETAIL_WAIT_MS;
  let d = detail?.();
  while (detail && d === undefined && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 10));
    d = detail();
  }
  return d;
}
const EXIT_DETAIL_WAIT_MS = 500;

function exitedReason(detail: string | undefined): string {
  return `process exited during health check${detail ? ` (${detail})` : ''}`;
}

/** undefined when healthy, else what is wrong. */
function probe(t: HealthTarget, timeoutMs: number): Promise<string | undefined> {
  return t.path === undefined ? probeTcp(t.port, timeoutMs) : probeHttp(t.port, t.path, timeoutMs);
}

function probeTcp(port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    const done = (problem: string | undefined) => {
      socket.destroy();
      resolve(problem);
    };
    socket.once('connect', () => done(undefined));
    socket.once('timeout', () => done(`port ${port} not accepting connections`));
    socket.on('error', () => done(`port ${port} not accepting connections`));
  });
}

function probeHttp(port: number, path: string, timeoutMs: number): Promise<string | undefined> {
  const what = `GET ${path} on port ${port}`;
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      resolve(status >= 200 && status < 300 ? undefined : `${what} answered ${status}`);
    });
    req.once('timeout', () => {
      req.destroy();
      resolve(`${what} got no answer within ${timeoutMs / 1000} s`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code === 'ECONNREFUSED' ? `port ${port} not accepting connections` : `${what} failed (${err.code ?? err.message})`);
    });
  });
}
