/**
 * The measured side: one `slipway serve` process with a throwaway config dir and data dir.
 * Every repo the benchmark needs is declared up front (`repos/<name>.yml`, by default branch main
 * with no runners; `repoYaml` gives a repo its own file, e.g. one with runners for push-to-live).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked } from './procs.ts';

export interface SlipwayInstance {
  port: number;
  pid: number;
  /** the instance's data dir (state/processes.json lists the app processes it started) */
  dataDir: string;
  /** calls `fn` with every line the server writes from now on (stdout and stderr); returns an unsubscribe */
  onLine(fn: (line: string) => void): () => void;
  remote(repo: string): string;
  /** last lines the server wrote (stdout+stderr), for error reports */
  outputTail(lines?: number): string;
  /** lines that look like errors/warnings, collected over the whole run */
  problems(): string[];
  /** SIGTERM, wait up to 5 s; reports how it ended */
  stop(): Promise<string>;
}

export interface SlipwayOptions {
  /** repo root (where bin/slipway.js lives) */
  root: string;
  /** absolute scratch dir; config/ and data/ are created in it */
  dir: string;
  /** contents of the benchmark client's .pub file */
  publicKey: string;
  repos: string[];
  /** contents of `repos/<name>.yml` for repos that need more than `branches: {main: {}}` */
  repoYaml?: Record<string, string>;
  /** `ports: {min, max}` in slipway.yml (backend ports for deployed apps; max exclusive) */
  ports?: { min: number; max: number };
  /** extra node options, e.g. `--cpu-prof` */
  nodeArgs?: string[];
  /** more lines of slipway.yml (e.g. `nginx:`) */
  mainExtra?: string[];
  /** more keys of its `limits:` (e.g. `max_sessions_per_user: 30`) */
  limits?: string[];
  /** contents of `domains/<name>.yml` */
  domains?: Record<string, string>;
}

export async function startSlipway(o: SlipwayOptions): Promise<SlipwayInstance> {
  const cfg = join(o.dir, 'config');
  const data = join(o.dir, 'data');
  mkdirSync(join(cfg, 'repos'), { recursive: true });
  mkdirSync(join(cfg, 'keys'), { recursive: true });
  mkdirSync(data, { recursive: true });
  const main = ['listen: 127.0.0.1:0', 'limits:', '  max_pack_size: 2GiB', ...(o.limits ?? []).map((l) => `  ${l}`)];
  if (o.ports) main.push(`ports: {min: ${o.ports.min}, max: ${o.ports.max}}`);
  main.push(...(o.mainExtra ?? []));
  if (o.domains) mkdirSync(join(cfg, 'domains'), { recursive: true });
  for (const [d, yaml] of Object.entries(o.domains ?? {})) writeFileSync(join(cfg, 'domains', `${d}.yml`), yaml);
  writeFileSync(join(cfg, 'slipway.yml'), [...main, ''].join('\n'));
  for (const r of o.repos) writeFileSync(join(cfg, 'repos', `${r}.yml`), ['branches:', '  main: {}', ''].join('\n'));
  for (const [r, yaml] of Object.entries(o.repoYaml ?? {})) writeFileSync(join(cfg, 'repos', `${r}.yml`), yaml);
  writeFileSync(join(cfg, 'keys', 'bench.pub'), o.publicKey.trim() + '\n');

  const args = [...(o.nodeArgs ?? []), join(o.root, 'bin', 'slipway.js'), 'serve', '--config', cfg, '--data', data, '--listen', '127.0.0.1:0'];
  const cp = spawnTracked(process.execPath, args, { cwd: o.root, stdio: ['ignore', 'pipe', 'pipe'] });

  const lines: string[] = [];
  const problems: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const push = (chunk: string, buf: { rest: string }, onLine: (l: string) => void) => {
    buf.rest += chunk;
    const parts = buf.rest.split('\n');
    buf.rest = parts.pop() ?? '';
    for (const l of parts) onLine(l);
  };
  // The whole server log also goes to <dir>/serve.log (kept with --keep).
  const logFile = join(o.dir, 'serve.log');
  const record = (l: string) => {
    try {
      appendFileSync(logFile, l + '\n');
    } catch {
      /* the run dir is being removed */
    }
    for (const fn of listeners) fn(l);
    lines.push(l);
    if (lines.length > 400) lines.shift();
    if (/\b(error|warn|fail|exception|uncaught|unhandled)/i.test(l) && problems.length < 50) problems.push(l);
  };
  const outBuf = { rest: '' };
  const errBuf = { rest: '' };

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`slipway did not print "slipway listening on" within 30 s; last output: ${lines.slice(-3).join(' | ')}`)),
      30_000,
    );
    cp.stdout!.on('data', (b: Buffer) =>
      push(b.toString('utf8'), outBuf, (l) => {
        record(l);
        const m = /slipway listening on 127\.0\.0\.1:(\d+)/.exec(l);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }),
    );
    cp.stderr!.on('data', (b: Buffer) => push(b.toString('utf8'), errBuf, record));
    cp.once('exit', (code, sig) => {
      clearTimeout(timer);
      // give the pipes a moment to flush the last lines
      setTimeout(() => {
        const text = lines.filter((l) => l.trim());
        const last = text.find((l) => /error/i.test(l) && !/^\s+at /.test(l)) ?? text.slice(-1)[0] ?? '(no output)';
        reject(new Error(`slipway serve exited (${code ?? sig}) before listening: ${last}`));
      }, 50);
    });
    cp.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });

  let exitInfo: string | undefined;
  cp.once('exit', (code, sig) => {
    exitInfo = `exit ${code ?? sig}`;
  });

  return {
    port,
    pid: cp.pid!,
    dataDir: data,
    onLine: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    remote: (repo) => `ssh://paas@127.0.0.1:${port}/${repo}`,
    outputTail: (n = 10) => lines.slice(-n).join('\n'),
    problems: () => problems,
    stop: async () => {
      if (exitInfo) return `had already exited (${exitInfo})`;
      cp.kill('SIGTERM');
      const ended = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 5000);
        cp.once('exit', () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      if (!ended) {
        cp.kill('SIGKILL');
        return 'did not exit within 5 s of SIGTERM (killed)';
      }
      return `stopped on SIGTERM (${exitInfo ?? 'exit'})`;
    },
  };
}
