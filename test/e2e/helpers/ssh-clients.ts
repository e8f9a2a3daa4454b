/**
 * The SSH clients the end-to-end tests drive besides OpenSSH: PuTTY's plink, dropbear's
 * dbclient, asyncssh, paramiko, libssh (a small C client compiled here) and Go's x/crypto/ssh
 * (likewise), each run as `client(key, command)`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  gitEnv, makeKey, requireTools, run, tempDir,
  type Instance, type KeyType, type RunResult,
} from './instance.ts';

const PY = '/usr/bin/python3';

requireTools({
  plink: 'putty-tools',
  puttygen: 'putty-tools',
  dbclient: 'dropbear-bin',
  dropbearconvert: 'dropbear-bin',
  gcc: 'gcc',
  'test -f /usr/include/libssh/libssh.h': 'libssh-dev',
  [`${PY} -c 'import asyncssh'`]: 'python3-asyncssh',
  [`${PY} -c 'import paramiko'`]: 'python3-paramiko',
  'ssh-audit': 'ssh-audit',
  go: 'golang-go',
  'test -d /usr/share/gocode/src/golang.org/x/crypto/ssh': 'golang-golang-x-crypto-dev',
});

const CLIENTS_DIR = path.join(import.meta.dirname, '..', 'clients');
const KEY_TYPES: KeyType[] = ['ed25519', 'rsa', 'ecdsa', 'ecdsa-384', 'ecdsa-521'];
export const OPENSSH_OPTS = ['-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'];

export interface ClientKey {
  type: KeyType;
  /** OpenSSH private key file */
  file: string;
  fingerprint: string;
}

/** Builds the libssh client once per run. */
export function libsshClient(): string {
  const out = path.join(tempDir('slipway-libssh-'), 'libssh-exec');
  const r = spawnSync('gcc', ['-O1', '-o', out, path.join(CLIENTS_DIR, 'libssh-exec.c'), '-lssh']);
  if (r.status !== 0) throw new Error(`compiling the libssh client failed: ${r.stderr}`);
  return out;
}

/** Builds the Go client (golang.org/x/crypto/ssh from Debian's package, no network) once per run. */
export function goClient(): string {
  const dir = tempDir('slipway-go-');
  const out = path.join(dir, 'go-exec');
  const r = spawnSync('go', ['build', '-o', out, path.join(CLIENTS_DIR, 'go-exec.go')], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: path.join(dir, 'cache'), GOFLAGS: '' },
  });
  if (r.status !== 0) throw new Error(`compiling the Go client failed: ${r.stderr}`);
  return out;
}

/** Host key fingerprints as `slipway serve` printed them. */
export function hostFingerprints(inst: Instance): string[] {
  return [...inst.output.matchAll(/^ {2}\w+\s+(SHA256:\S+)$/gm)].map((m) => m[1]!);
}

export function fingerprintOf(pubFile: string): string {
  return /SHA256:\S+/.exec(spawnSync('ssh-keygen', ['-lf', pubFile]).stdout.toString())![0];
}

export async function waitFor(inst: Instance, pattern: RegExp, from: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(inst.output.slice(from))) {
    if (Date.now() > deadline) assert.fail(`server log never matched ${pattern}:\n${inst.output.slice(from)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Gives alice one more key of every type (reloading the config with SIGHUP). */
export async function keysOfEveryType(inst: Instance): Promise<ClientKey[]> {
  const dir = tempDir('slipway-client-keys-');
  const keys = KEY_TYPES.map((type) => {
    const file = makeKey(dir, `alice-${type}`, type);
    return { type, file, fingerprint: fingerprintOf(`${file}.pub`) };
  });
  fs.appendFileSync(path.join(inst.configDir, 'keys', 'alice.pub'), keys.map((k) => fs.readFileSync(`${k.file}.pub`, 'utf8')).join(''));
  const from = inst.output.length;
  inst.proc!.kill('SIGHUP');
  await waitFor(inst, /config reloaded/, from);
  return keys;
}

export type Client = (key: ClientKey, command: string) => Promise<RunResult>;

/** `built`: the compiled libssh and Go clients (libsshClient(), goClient()), when those are used. */
export function clients(inst: Instance, built: { libssh?: string; go?: string } = {}): Record<string, Client> {
  const env = gitEnv(inst.home);
  const port = String(inst.port);
  const hostKeys = hostFingerprints(inst).flatMap((f) => ['-hostkey', f]);
  const converted = (key: ClientKey, ext: string, convert: (out: string) => string[]) => {
    const out = `${key.file}.${ext}`;
    if (!fs.existsSync(out)) {
      const [cmd, ...args] = convert(out);
      const r = spawnSync(cmd!, args);
      if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    }
    return out;
  };
  const ppk = (key: ClientKey) => converted(key, 'ppk', (out) => ['puttygen', key.file, '-O', 'private', '-o', out]);
  const dropbearKey = (key: ClientKey) => converted(key, 'db', (out) => ['dropbearconvert', 'openssh', 'dropbear', key.file, out]);
  return {
    openssh: (key, command) => run('ssh', ['-i', key.file, ...OPENSSH_OPTS, '-p', port, 'paas@127.0.0.1', command], { env }),
    plink: (key, command) => run('plink', ['-batch', '-ssh', '-P', port, ...hostKeys, '-i', ppk(key), 'paas@127.0.0.1', command], { env }),
    dbclient: (key, command) => run('dbclient', ['-y', '-y', '-i', dropbearKey(key), '-p', port, 'paas@127.0.0.1', command], { env }),
    asyncssh: (key, command) => run(PY, ['-W', 'ignore', path.join(CLIENTS_DIR, 'asyncssh-exec.py'), port, key.file, command], { env }),
    paramiko: (key, command) => run(PY, ['-W', 'ignore', path.join(CLIENTS_DIR, 'paramiko-exec.py'), port, key.file, command], { env }),
    libssh: (key, command) => run(built.libssh!, ['127.0.0.1', port, key.file, command], { env }),
    go: (key, command) => run(built.go!, [port, key.file, command], { env }),
  };
}

/**
 * `count` plink logins with alice's RSA key, 50 at a time, each running `help`; the errors of
 * those that failed. PuTTY sends about 1 RSA signature in 256 without its leading zero bytes.
 */
export async function plinkRsaLogins(inst: Instance, count: number): Promise<string[]> {
  const key = (await keysOfEveryType(inst)).find((k) => k.type === 'rsa')!;
  const plink = clients(inst).plink!;
  const failures: string[] = [];
  for (let done = 0; done < count; done += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - done) }, async () => {
      const r = await plink(key, 'help');
      if (r.code !== 0) failures.push(r.stderr.trim());
    }));
  }
  return failures;
}

/** An instance for many logins at once from one address and user (more than the default pre-auth share and per-user caps: 50 run at once). */
export const MANY_LOGINS_YML = 'limits:\n  max_unauthenticated_per_source: 64\n  max_connections_per_user: 64\n  max_sessions_per_user: 64\n';

