/**
 * A flood must not close the door: connections that have not logged in have a budget of their
 * own (limits.max_unauthenticated, max_unauthenticated_per_source), apart from logged-in ones
 * (max_connections), and sources that keep failing wait a growing penalty. Flooders come from
 * 127.0.0.2-127.0.0.9, the legitimate client from 127.0.0.1 (all loopback on Linux).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Flood, FLOOD_SOURCES } from './helpers/flood.ts';
import { gitEnv, run, startInstance, type Instance, type RunResult } from './helpers/instance.ts';

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function sshFrom(inst: Instance, source: string, user = 'alice'): Promise<RunResult> {
  return run('ssh', [...inst.sshCommand(user).split(' ').slice(1), '-b', source, '-p', String(inst.port), 'paas@127.0.0.1', 'whoami'], { env: gitEnv(inst.home), timeoutMs: 20_000 });
}

/** A login from 127.0.0.1 that must succeed within `ms`. */
async function loginWithin(inst: Instance, ms: number): Promise<void> {
  const started = Date.now();
  const r = await sshFrom(inst, '127.0.0.1');
  const took = Date.now() - started;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^user: alice/);
  assert.ok(took < ms, `the login took ${took} ms (expected under ${ms} ms)`);
}

function silentFrom(inst: Instance, source: string): Promise<{ sock: net.Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    let got = '';
    const sock = net.connect({ host: '127.0.0.1', port: inst.port, localAddress: source });
    const closed = new Promise<string>((r) => sock.on('close', () => r(got)));
    sock.on('data', (d) => (got += d));
    sock.on('error', () => {});
    sock.once('connect', () => resolve({ sock, closed }));
    sock.once('error', reject);
  });
}

async function waitForLog(inst: Instance, pattern: RegExp, from: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(inst.output.slice(from))) {
    if (Date.now() > deadline) assert.fail(`the server never logged ${pattern}:\n${inst.output.slice(from)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a flood with the default limits', () => {
  let inst: Instance;
  let flood: Flood;
  before(async () => {
    inst = await startInstance({ users: ['alice'] });
    flood = new Flood(inst.port);
  });
  after(async () => {
    flood.stop();
    await inst.stop();
  });

  test('500 silent or babbling connections from other addresses: a user still gets in within 2 s, and memory stays bounded', async () => {
    const pid = inst.proc!.pid!;
    await loginWithin(inst, 2000);
    const before = rssKiB(pid);
    flood.start(500);
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 3; i++) await loginWithin(inst, 2000);
    const during = rssKiB(pid);
    assert.ok(flood.opened >= 500);
    flood.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await loginWithin(inst, 2000);
    const afterwards = rssKiB(pid);
    // Only the admitted few (10 per source) cost memory; refused ones are closed at once.
    assert.ok(during - before < 64 * 1024, `RSS grew from ${before} to ${during} KiB during the flood`);
    assert.ok(afterwards - before < 64 * 1024, `RSS grew from ${before} to ${afterwards} KiB after the flood`);
  });
});

describe('limits.max_unauthenticated and max_unauthenticated_per_source', () => {
  let inst: Instance;
  const open: net.Socket[] = [];
  before(async () => {
    inst = await startInstance({ users: ['alice'], slipwayYml: 'limits:\n  max_unauthenticated: 16\n  max_unauthenticated_per_source: 4\n' });
  });
  after(async () => {
    for (const s of open) s.destroy();
    await inst.stop();
  });

  test('a source over its share is closed before the banner; others are not', async () => {
    const mine = await Promise.all(Array.from({ length: 4 }, () => silentFrom(inst, '127.0.0.2')));
    open.push(...mine.map((m) => m.sock));
    const extra = await silentFrom(inst, '127.0.0.2');
    open.push(extra.sock);
    assert.equal(await extra.closed, '', 'closed without an SSH banner');
    const other = await silentFrom(inst, '127.0.0.3');
    open.push(other.sock);
    assert.equal(await Promise.race([other.closed, new Promise((r) => setTimeout(() => r('open'), 500))]), 'open');
  });

  test('with the overall cap full, the oldest unauthenticated connection makes room for a login', async () => {
    const from = inst.output.length;
    const held = await Promise.all(FLOOD_SOURCES.slice(2).flatMap((src) => Array.from({ length: 4 }, () => silentFrom(inst, src))));
    open.push(...held.map((h) => h.sock));
    await loginWithin(inst, 2000);
    await waitForLog(inst, /dropped the oldest unauthenticated connection/, from);
  });

  test('logged-in connections do not count against the pre-auth caps', async () => {
    // Far more logins than max_unauthenticated_per_source, one after the other, from one address.
    for (let i = 0; i < 6; i++) assert.equal((await sshFrom(inst, '127.0.0.1')).code, 0);
  });
});

describe('limits.penalty', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: ['alice'], strangers: ['mallory'], slipwayYml: 'limits:\n  handshake_timeout: 1\n' });
  });
  after(() => inst.stop());

  test('a source whose connections keep timing out is refused for a while; other sources are not', async () => {
    const from = inst.output.length;
    const stalled = await Promise.all(Array.from({ length: 4 }, () => silentFrom(inst, '127.0.0.5')));
    await Promise.all(stalled.map((s) => s.closed));
    await waitForLog(inst, /refusing a source for a while.*source=127\.0\.0\.5/, from);
    const refused = await sshFrom(inst, '127.0.0.5');
    assert.equal(refused.code, 255);
    assert.equal((await sshFrom(inst, '127.0.0.6')).code, 0);
  });

  test('a source that keeps failing to log in is refused for a while, even with a good key', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await sshFrom(inst, '127.0.0.7', 'mallory');
      assert.match(r.stderr, /Permission denied \(publickey\)/);
    }
    const r = await sshFrom(inst, '127.0.0.7', 'alice');
    assert.equal(r.code, 255);
    assert.doesNotMatch(r.stderr, /Permission denied/, 'refused before any authentication');
    assert.equal((await sshFrom(inst, '127.0.0.8', 'alice')).code, 0);
  });
});
