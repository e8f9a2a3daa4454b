/**
 * nginx test helpers: the real Debian nginx (installed when running as root, else the test fails
 * naming the package), free ports, requests with a Host header (and SNI), and the managed
 * master's pid.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { stopAll } from './deploy.ts';
import type { Instance } from './instance.ts';

const SBIN = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'];

function nginxBinary(): string | null {
  const onPath = spawnSync('sh', ['-c', 'command -v nginx']).stdout?.toString().trim();
  return onPath || SBIN.find((f) => fs.existsSync(f)) || null;
}

/** The nginx binary; installs Debian's `nginx` (and `openssl`) as root, else throws naming them. */
export function requireNginx(): string {
  const missing = () => [nginxBinary() ? null : 'nginx', spawnSync('sh', ['-c', 'command -v openssl']).status === 0 ? null : 'openssl'].filter((x): x is string => x !== null);
  if (missing().length && process.getuid?.() === 0) {
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing()], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (missing().length) throw new Error(`the nginx tests need the Debian package(s) ${missing().join(' ')} (apt-get install -y ${missing().join(' ')})`);
  return nginxBinary()!;
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface WebAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET through nginx on a fresh connection, with `Host: host`. */
export function web(port: number, host: string, urlPath = '/', opts: { tls?: boolean; timeoutMs?: number } = {}): Promise<WebAnswer> {
  return new Promise((resolve, reject) => {
    const mod = opts.tls ? https : http;
    const req = mod.get(
      { host: '127.0.0.1', port, path: urlPath, agent: false, headers: { host, connection: 'close' }, timeout: opts.timeoutMs ?? 3000, servername: host, rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${host}${urlPath} timed out`)));
    req.on('error', reject);
  });
}

/** The managed nginx master of an instance (from its pid file), or null. */
export function masterPid(inst: Instance): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(inst.dataDir, 'nginx', 'nginx.pid'), 'utf8').trim());
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nginx: master') ? pid : null;
  } catch {
    return null;
  }
}

/** Ends the instance's managed nginx (SIGTERM: the master takes its workers with it). */
export async function killNginx(inst: Instance): Promise<void> {
  const pid = masterPid(inst);
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  const until = Date.now() + 5000;
  while (fs.existsSync(`/proc/${pid}`) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

/** Teardown of a test with a managed nginx: the gateway first (it would start a stopped nginx again), then its nginx. */
export async function stopWithNginx(inst: Instance | undefined, marker: string): Promise<void> {
  await stopAll(inst, marker);
  if (inst) await killNginx(inst);
}
