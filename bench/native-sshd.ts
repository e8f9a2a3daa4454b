/**
 * The reference side: OpenSSH's sshd on a random loopback port, serving plain `git-receive-pack` /
 * `git-upload-pack` from bare repos created with `git init --bare`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { runOk, spawnTracked } from './procs.ts';

export const SSHD = '/usr/sbin/sshd';

export interface NativeSshd {
  port: number;
  pid: number;
  user: string;
  /** ssh:// URL for an absolute repo path on this machine */
  remote(absRepoPath: string): string;
  /** `git init --bare` at an absolute path (untimed setup) */
  initBare(absRepoPath: string): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(cp: ChildProcess, ms: number): Promise<boolean> {
  if (cp.exitCode !== null || cp.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    cp.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Start sshd in the foreground (-D -e) with everything under `dir` (absolute): host key,
 * authorized_keys (the benchmark client's public key), config. Resolves when it listens.
 */
export async function startNativeSshd(dir: string, clientPubKeyFile: string): Promise<NativeSshd> {
  mkdirSync(dir, { recursive: true });
  const user = userInfo().username;
  const isRoot = process.getuid?.() === 0;
  if (isRoot) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege-separation dir

  const hostKey = join(dir, 'ssh_host_ed25519_key');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-host', '-f', hostKey]);
  const authorized = join(dir, 'authorized_keys');
  copyFileSync(clientPubKeyFile, authorized);

  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      'StrictModes no',
      'UsePAM no',
      'PidFile none',
      isRoot ? 'PermitRootLogin prohibit-password' : 'PermitRootLogin no',
      `AllowUsers ${user}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxStartups 100:30:200',
      // Debian's bash sources ~/.bashrc for ssh commands of a top-level shell; with SHLVL set it
      // is not top-level, so the native side pays for git, not for the user's shell start-up.
      'SetEnv SHLVL=1',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
  const check = spawnSync(SSHD, ['-t', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`sshd -t rejected the config: ${(check.stderr || check.stdout).trim()}`);

  const cp = spawnTracked(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not report listening within 10 s: ${log.trim()}`)), 10_000);
    cp.stderr!.on('data', (b: Buffer) => {
      log = (log + b.toString('utf8')).slice(-4000);
      if (/Server listening on 127\.0\.0\.1 port/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    cp.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited (${code ?? sig}) at startup: ${log.trim().split('\n').pop() ?? ''}`));
    });
    cp.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });

  return {
    port,
    pid: cp.pid!,
    user,
    remote: (p) => `ssh://${user}@127.0.0.1:${port}${p}`,
    initBare: async (p) => {
      await runOk('git', ['init', '-q', '--bare', '-b', 'main', p]);
    },
    stop: async () => {
      cp.kill('SIGTERM');
      if (!(await waitExit(cp, 3000))) cp.kill('SIGKILL');
    },
  };
}
