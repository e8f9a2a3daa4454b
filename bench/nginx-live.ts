/**
 * Push-to-live through nginx: the same one-line change as push-to-live, but the app is reached
 * through a domain of slipway's managed nginx, while a client requests every 20 ms on a fresh
 * connection for the whole series of redeploys. Per push: the time from the start of `git push`
 * to the first answer of the new version through nginx; over all: every request that failed
 * (an error, a refused connection, a non-200).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnTracked } from './procs.ts';
import { get, MARKER_VAR, serverJs, sleep } from './push-to-live.ts';
import type { SlipwayInstance } from './slipway-instance.ts';

export const NGINX_REPO = 'live-nginx';
export const NGINX_HOST = 'live.bench';
const CLIENT_INTERVAL_MS = 20;
const PUSH_TIMEOUT_MS = 60_000;

/** nginx as slipway would find it, or null. */
export function nginxBinary(): string | null {
  const onPath = spawnSync('sh', ['-c', 'command -v nginx']).stdout?.toString().trim();
  return onPath || ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((f) => existsSync(f)) || null;
}

export function nginxRepoYaml(marker: string): string {
  return `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: ${JSON.stringify(`${process.execPath} server.js`)}}\n    env:\n      ${MARKER_VAR}: ${JSON.stringify(marker)}\n`;
}

export function nginxDomainYaml(): string {
  return `ssl: false\nlocations:\n  /:\n    upstream: {repo: ${NGINX_REPO}, branch: main, runner: web}\n`;
}

export interface NginxLiveResult {
  /** t0 -> first answer of the new version through nginx, per timed push */
  liveMs: number[];
  /** t0 -> git push exited (includes the drain of the old release) */
  pushMs: number[];
  requests: number;
  failed: { at: number; what: string }[];
  errors: string[];
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): void {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
}

function push(slip: SlipwayInstance, work: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; at: number; stderr: string }> {
  return new Promise((resolve) => {
    const cp = spawnTracked('git', ['push', slip.remote(NGINX_REPO), 'main'], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cp.stderr!.on('data', (b: Buffer) => (stderr += b));
    const t = setTimeout(() => cp.kill('SIGKILL'), PUSH_TIMEOUT_MS);
    cp.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, at: performance.now(), stderr });
    });
  });
}

export async function measureNginxLive(o: { slip: SlipwayInstance; dir: string; gitEnv: NodeJS.ProcessEnv; repeat: number; httpPort: number; log: (m: string) => void }): Promise<NginxLiveResult> {
  const result: NginxLiveResult = { liveMs: [], pushMs: [], requests: 0, failed: [], errors: [] };
  const work = join(o.dir, 'nginx-live-app');
  mkdirSync(work, { recursive: true });
  const env = { ...o.gitEnv, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.invalid', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.invalid' };
  git(['init', '-q', '-b', 'main'], work, env);
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'bench-nginx-app', private: true, type: 'commonjs' }) + '\n');
  const commit = (v: string) => {
    writeFileSync(join(work, 'server.js'), serverJs(v));
    git(['add', '-A'], work, env);
    git(['commit', '-q', '-m', v], work, env);
  };
  const stamp = Date.now().toString(36);
  commit(`nginx ${stamp} v0`);
  const first = await push(o.slip, work, env);
  if (first.code !== 0) {
    result.errors.push(`first deploy failed: ${first.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return result;
  }

  // The client: every 20 ms a fresh connection through nginx; what each answer says.
  let current = '';
  let seen: (v: string, at: number) => void = () => {};
  let running = true;
  const client = (async () => {
    while (running) {
      const started = performance.now();
      result.requests++;
      try {
        const r = await get(o.httpPort, 2000, NGINX_HOST);
        const v = r.body.split('\n')[0] ?? '';
        if (r.status !== 200) result.failed.push({ at: started, what: `HTTP ${r.status}` });
        else if (v !== current) {
          current = v;
          seen(v, performance.now());
        }
      } catch (e) {
        result.failed.push({ at: started, what: (e as Error).message });
      }
      await sleep(Math.max(0, CLIENT_INTERVAL_MS - (performance.now() - started)));
    }
  })();

  for (let i = 1; i <= o.repeat; i++) {
    const v = `nginx ${stamp} v${i}`;
    commit(v);
    const answered = new Promise<number>((resolve) => (seen = (got, at) => got === v && resolve(at)));
    const t0 = performance.now();
    const p = await push(o.slip, work, env);
    if (p.code !== 0) {
      result.errors.push(`push ${i} failed: ${p.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      continue;
    }
    const at = await Promise.race([answered, sleep(10_000).then(() => NaN)]);
    if (Number.isNaN(at)) {
      result.errors.push(`push ${i}: nginx did not answer ${v} within 10 s after the push`);
      continue;
    }
    result.liveMs.push(at - t0);
    result.pushMs.push(p.at - t0);
    o.log(`  nginx run ${i}: live ${(at - t0).toFixed(0)} ms through nginx, push exit ${(p.at - t0).toFixed(0)} ms (drain included)`);
  }
  running = false;
  await client;
  return result;
}

/** Ends the managed nginx of a data dir (it is daemonized, like the apps it outlives the gateway). */
export function stopNginx(dataDir: string): void {
  try {
    const pid = Number(readFileSync(join(dataDir, 'nginx', 'nginx.pid'), 'utf8').trim());
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nginx: master')) process.kill(pid, 'SIGTERM');
  } catch {
    /* none running */
  }
}
