/**
 * Bounds on what one key can hold open (limits.max_connections_per_user,
 * max_sessions_per_user) and the idle rule that keepalives do not defeat, with stock OpenSSH and
 * the ssh2 client.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { startInstance, waitUntil, within, type Instance } from './helpers/instance.ts';
import { collect, connect, connectAs, openExec, type SshClient } from './helpers/raw-git.ts';

function ended(conn: SshClient): Promise<void> {
  return new Promise((r) => conn.once('close', () => r()));
}

describe('limits.max_connections_per_user', () => {
  let inst: Instance;
  const open: SshClient[] = [];
  before(async () => {
    // The global cap is above one user's share: without the per-user cap alice could take it all.
    inst = await startInstance({ users: ['alice', 'bob'], slipwayYml: 'limits:\n  max_connections: 12\n' });
  });
  after(async () => {
    for (const c of open) c.end();
    await inst.stop();
  });

  test('the 11th connection of one key is told why and ends; other users still get in', async () => {
    for (let i = 0; i < 10; i++) open.push(await connectAs(inst, 'alice'));
    const r = await inst.ssh('alice', ['whoami']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /too many connections open for alice \(limits\.max_connections_per_user: 10\)/);
    const bob = await inst.ssh('bob', ['whoami']);
    assert.equal(bob.code, 0, bob.stderr);
    assert.match(inst.output, /login refused: limits\.max_connections_per_user reached/);
  });

  test('a freed connection makes room again', async () => {
    const one = open.pop()!;
    const gone = ended(one);
    one.end();
    await within(gone, 10_000, 'the connection to close');
    const r = await waitUntil('alice logging in again', () => inst.ssh('alice', ['whoami']), (x) => x.code === 0, 10_000, 100);
    assert.match(r.stdout, /alice/);
  });
});

describe('limits.max_sessions_per_user', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  max_sessions_per_user: 2\n' });
  });
  after(() => inst.stop());

  test('sessions are counted over all the connections of a user', async () => {
    const a = await connectAs(inst, 'alice');
    const b = await connectAs(inst, 'alice');
    try {
      // upload-pack waits for the client after its advertisement: each holds a session open.
      const held: ClientChannel[] = [await openExec(a, "git-upload-pack 'myapp'"), await openExec(a, "git-upload-pack 'myapp'")];
      const third = await within(collect(await openExec(b, 'whoami')), 10_000, 'the third session to end');
      assert.equal(third.code, 1);
      assert.match(third.stderr, /too many sessions open for alice \(limits\.max_sessions_per_user: 2\)/);
      held[0]!.end();
      const r = await waitUntil('a session after one ended', async () => collect(await openExec(b, 'whoami')), (x) => x.code === 0, 10_000, 100);
      assert.match(r.stdout.toString(), /alice/);
    } finally {
      a.end();
      b.end();
    }
  });
});

describe('idle_timeout with keepalives', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  idle_timeout: 2\n' });
  });
  after(() => inst.stop());

  test('an ssh2 client sending only keepalives is closed after the idle timeout', async () => {
    const conn = await connect(inst, { privateKey: fs.readFileSync(inst.keys.alice!), keepaliveInterval: 300 });
    await within(ended(conn), 15_000, 'closing a connection that only sends keepalives');
  });

  test('`ssh -N` with ServerAliveInterval is closed after the idle timeout', async () => {
    const args = [...inst.sshCommand('alice').split(' ').slice(1), '-N', '-o', 'ServerAliveInterval=1', '-p', String(inst.port), 'paas@127.0.0.1'];
    const child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await within(exited, 15_000, 'ssh -N to be disconnected');
    } finally {
      child.kill();
    }
    assert.match(inst.output, /closing idle connection/);
  });

  test('a connection whose session keeps moving data is not idle', async () => {
    const conn = await connectAs(inst, 'alice');
    try {
      const close = ended(conn);
      // A command every half second keeps data moving; no keepalives at all.
      let live = true;
      close.then(() => (live = false));
      const deadline = Date.now() + 4_500;
      while (Date.now() < deadline && live) {
        const s = await openExec(conn, 'whoami');
        await collect(s);
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(live, true, 'the connection was closed while its sessions were active');
    } finally {
      conn.end();
    }
  });
});
