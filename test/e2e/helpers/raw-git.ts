/**
 * Raw git-over-ssh for tests that speak the protocol themselves (as an attacker would, or a client
 * stock git is not): the ssh2 client with a test key, pkt-lines, report-status, packs, and the
 * checks that a repo came out unharmed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import { assertFsckClean, assertNoStackTrace, gitEnv, run, serverRef, tempDir, waitUntil, type Instance } from './instance.ts';

const { Client } = ssh2;
export type SshClient = InstanceType<typeof Client>;

export const FLUSH = Buffer.from('0000');

// ---------------------------------------------------------------- raw protocol helpers

export function pkt(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0')), body]);
}

/** pkt-lines of `buf` as text (null = flush), stopping at the first thing that is not a pkt-line. */
export function parsePkts(buf: Buffer): (string | null)[] {
  const out: (string | null)[] = [];
  let i = 0;
  while (i + 4 <= buf.length) {
    const head = buf.subarray(i, i + 4).toString('latin1');
    if (!/^[0-9a-f]{4}$/.test(head)) break;
    const len = parseInt(head, 16);
    if (len === 0) {
      out.push(null);
      i += 4;
      continue;
    }
    if (len < 4 || i + len > buf.length) break;
    out.push(buf.subarray(i + 4, i + len).toString('latin1'));
    i += len;
  }
  return out;
}

/** The report-status lines of a push response (after the advertisement), demultiplexing side-band when used. */
export function reportStatus(stdout: Buffer, sideband: boolean): { lines: string[]; progress: string } {
  const pkts = parsePkts(stdout);
  const afterAdvert = pkts.slice(pkts.indexOf(null) + 1);
  let progress = '';
  let body: Buffer;
  if (sideband) {
    const parts: Buffer[] = [];
    for (const p of afterAdvert) {
      if (p === null) break;
      const band = p.charCodeAt(0);
      if (band === 1) parts.push(Buffer.from(p.slice(1), 'latin1'));
      else progress += p.slice(1);
    }
    body = Buffer.concat(parts);
  } else {
    body = Buffer.concat(afterAdvert.map((p) => (p === null ? FLUSH : pkt(p))));
  }
  const lines: string[] = [];
  for (const p of parsePkts(body)) {
    if (p === null) break;
    lines.push(p.replace(/\n$/, ''));
  }
  return { lines, progress };
}

export function connect(inst: Instance, cfg: ConnectConfig): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('ready', () => resolve(c));
    c.on('error', reject);
    c.connect({ host: '127.0.0.1', port: inst.port, username: 'paas', readyTimeout: 15_000, ...cfg });
  });
}

export function connectAs(inst: Instance, user: string): Promise<SshClient> {
  return connect(inst, { privateKey: fs.readFileSync(inst.keys[user]!) });
}

interface ExecResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

export function openExec(conn: SshClient, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => conn.exec(command, (err, ch) => (err ? reject(err) : resolve(ch))));
}

/** Collects a channel's output until it closes. */
export function collect(ch: ClientChannel): Promise<ExecResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let stderr = '';
    let code: number | null = null;
    ch.on('data', (d: Buffer) => out.push(d));
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ch.on('exit', (c: number | null) => (code = c));
    ch.on('close', () => resolve({ stdout: Buffer.concat(out), stderr, code }));
  });
}

/** `ssh host <command>` over a fresh ssh2 connection: sends `input`, then EOF, and waits for the channel to close. */
export async function rawExec(inst: Instance, command: string, input: Buffer | string = Buffer.alloc(0), user = 'alice'): Promise<ExecResult> {
  return rawExecWith(inst, { privateKey: fs.readFileSync(inst.keys[user]!) }, command, input);
}

/** The same over a connection made with `cfg` (another login name, client version, agent, …). */
export async function rawExecWith(inst: Instance, cfg: ConnectConfig, command: string, input: Buffer | string = Buffer.alloc(0)): Promise<ExecResult> {
  const conn = await connect(inst, cfg);
  try {
    const ch = await openExec(conn, command);
    const done = collect(ch);
    ch.end(input);
    return await done;
  } finally {
    conn.end();
  }
}

export function pushCommand(old: string, next: string, ref: string, caps: string): Buffer {
  return Buffer.concat([pkt(`${old} ${next} ${ref}\0${caps}\n`), FLUSH]);
}

/** `git pack-objects --stdout` for `revs` (one per line, `^x` excludes), run in `cwd`. */
export function packObjects(inst: Instance, cwd: string, revs: string[]): Buffer {
  const r = spawnSync('git', ['pack-objects', '--revs', '--stdout', '-q'], { cwd, env: gitEnv(inst.home), input: revs.join('\n') + '\n', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

export function objectCount(pack: Buffer): number {
  return pack.readUInt32BE(8);
}

/** Recomputes a pack's trailing SHA-1 after its body was edited. */
export function withChecksum(body: Buffer): Buffer {
  return Buffer.concat([body, crypto.createHash('sha1').update(body).digest()]);
}

// ---------------------------------------------------------------- server-side checks

export function gitDirLeftovers(gitDir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(gitDir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.name.endsWith('.lock') || /^incoming-/.test(e.name) || (rel === 'objects/pack' && e.name.startsWith('tmp_'))) found.push(r);
      else if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  return found;
}

export async function assertNoLeftovers(inst: Instance, repo: string): Promise<void> {
  await waitUntil(`leftovers in ${repo}.git`, () => gitDirLeftovers(inst.gitDir(repo)), (l) => l.length === 0);
}

/** Waits for a log line (written after `from`) matching `re`; returns it. */
export async function logLine(inst: Instance, from: number, re: RegExp): Promise<string> {
  const found = await waitUntil(`a log line matching ${re}`, () => inst.output.slice(from).split('\n').find((l) => re.test(l)) ?? '', (l) => l !== '');
  assert.ok(!found.includes('\n'));
  return found;
}

/** The server logged why it refused a pack, on one line of its own. */
export async function assertPackRefusalLogged(inst: Instance, from: number, reason: string): Promise<void> {
  const line = await waitUntil(
    `a receive-pack log line naming '${reason}'`,
    () => inst.output.slice(from).split('\n').find((l) => l.includes('receive-pack:') && l.includes(reason)) ?? '',
    (l) => l !== '',
    3000,
  );
  assert.doesNotMatch(line, /\\n/);
}

export async function refs(inst: Instance, repo = 'myapp'): Promise<string> {
  return (await inst.serverGit(repo, ['show-ref'])).stdout;
}

/** A normal clone through real git and ssh still works and sees the server's main. */
export async function assertStillServes(inst: Instance, repo = 'myapp'): Promise<void> {
  const dir = path.join(tempDir('slipway-clone-'), 'c');
  const r = await inst.git(['clone', '-q', `${inst.url}/${repo}`, dir]);
  assert.equal(r.code, 0, `clone after the attack failed:\n${r.stderr}`);
  const head = (await run('git', ['rev-parse', 'HEAD'], { cwd: dir, env: gitEnv(inst.home) })).stdout.trim();
  assert.equal(head, await serverRef(inst, repo, 'refs/heads/main'));
}

/** Everything the attack must not have changed. */
export async function assertUnharmed(inst: Instance, refsBefore: string, repo = 'myapp'): Promise<void> {
  await assertNoLeftovers(inst, repo);
  assert.equal(await refs(inst, repo), refsBefore, 'refs changed');
  await assertFsckClean(inst, repo);
  assertNoStackTrace(inst);
  await assertStillServes(inst, repo);
}
