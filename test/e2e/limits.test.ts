/**
 * The connection limits of `slipway.yml` (limits: max_auth_attempts, max_connections,
 * handshake_timeout, idle_timeout, max_sessions_per_connection; the pre-auth budget is in
 * flood.test.ts), exercised with stock OpenSSH,
 * the ssh2 client and raw TCP sockets.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { assertNoStackTrace, gitEnv, run, startInstance, waitUntil, within, type Instance } from './helpers/instance.ts';
import { connectAs, openExec } from './helpers/raw-git.ts';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

function closed(ch: ClientChannel): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    ch.on('data', (d: Buffer) => (out += d.toString('latin1')));
    ch.stderr.on('data', () => {});
    ch.on('close', () => resolve(out));
  });
}

interface RawSocket {
  sock: net.Socket;
  /** bytes the server sent */
  received: () => string;
  /** resolves when the server closed (or reset) the connection */
  closed: Promise<void>;
  /** resolves with the server's first bytes (its SSH identification) */
  greeted: Promise<string>;
}

/** A raw TCP connection that says nothing unless told to. */
function rawSocket(inst: Instance, opts: { allowHalfOpen?: boolean } = {}): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    let data = '';
    let greet: (s: string) => void = () => {};
    const greeted = new Promise<string>((r) => (greet = r));
    const sock = net.connect({ host: '127.0.0.1', port: inst.port, allowHalfOpen: opts.allowHalfOpen ?? false });
    const closedP = new Promise<void>((r) => {
      sock.on('close', () => r());
      if (opts.allowHalfOpen) sock.on('end', () => r());
    });
    sock.on('data', (d) => {
      data += d.toString('latin1');
      greet(data);
    });
    sock.on('error', () => {});
    sock.once('connect', () => resolve({ sock, received: () => data, closed: closedP, greeted }));
    sock.once('error', reject);
  });
}

describe('limits.max_auth_attempts', () => {
  let inst: Instance;
  let wrong: string[];
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  max_auth_attempts: 2\n', users: ['alice'], strangers: ['k1', 'k2', 'k3'] });
    wrong = ['k1', 'k2', 'k3'].map((k) => inst.keys[k]!);
  });
  after(() => inst.stop());

  function sshWithKeys(keys: string[]) {
    return run('ssh', [
      '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
      ...keys.flatMap((k) => ['-i', k]),
      '-p', String(inst.port), 'paas@127.0.0.1', 'whoami',
    ], { env: gitEnv(inst.home) });
  }

  test('a valid key offered first logs in', async () => {
    const r = await sshWithKeys([inst.keys.alice!]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^user: alice/);
  });

  test('a valid key offered after two wrong ones is refused once the attempts are used up', async () => {
    const from = inst.output.length;
    const r = await sshWithKeys([wrong[0]!, wrong[1]!, inst.keys.alice!]);
    assert.equal(r.code, 255, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(inst.output.slice(from), /too many authentication attempts/);
    assertNoStackTrace(inst);
  });

  test('one wrong key, then the valid one, still logs in', async () => {
    const r = await sshWithKeys([wrong[2]!, inst.keys.alice!]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^user: alice/);
  });
});

describe('limits.max_connections', () => {
  let inst: Instance;
  const open: net.Socket[] = [];
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  max_connections: 2\n' });
  });
  after(async () => {
    for (const s of open) s.destroy();
    await inst.stop();
  });

  test('a login beyond max_connections logged-in connections is refused, and the slot frees when one leaves', async () => {
    const a = await connectAs(inst, 'alice');
    const b = await connectAs(inst, 'alice');
    try {
      const from = inst.output.length;
      const refused = await inst.ssh('alice', ['whoami']);
      assert.equal(refused.code, 255);
      assert.match(inst.output.slice(from), /login refused: limits.max_connections reached/);
      a.end();
      await waitUntil('a login after a slot was freed', async () => (await inst.ssh('alice', ['whoami'])).code === 0, Boolean, 10_000, 100);
    } finally {
      a.end();
      b.end();
    }
    assertNoStackTrace(inst);
  });

  test('connections that have not logged in do not count against max_connections', async () => {
    // Before issue 8, two silent TCP connections kept everyone out until the handshake timeout.
    for (let i = 0; i < 3; i++) {
      const s = await rawSocket(inst);
      open.push(s.sock);
      assert.match(await within(s.greeted, 10_000, 'a greeting'), /^SSH-2\.0-/);
    }
    const r = await inst.ssh('alice', ['whoami']);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('limits.handshake_timeout and idle_timeout', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  handshake_timeout: 1\n  idle_timeout: 2\n' });
  });
  after(() => inst.stop());

  test('a TCP connection that never speaks is closed after the handshake timeout', async () => {
    const from = inst.output.length;
    const s = await rawSocket(inst);
    await within(s.closed, 15_000, 'closing a silent connection');
    assert.match(s.received(), /^SSH-2\.0-/);
    assert.match(inst.output.slice(from), /handshake timeout/);
  });

  test('a client that sends its identification and then stalls is closed', async () => {
    const s = await rawSocket(inst);
    s.sock.write('SSH-2.0-OpenSSH_9.2p1 stall\r\n');
    await within(s.closed, 15_000, 'closing a stalled handshake');
  });

  test('an authenticated connection doing nothing is closed after the idle timeout', async () => {
    const conn = await connectAs(inst, 'alice');
    const gone = new Promise<void>((r) => conn.on('close', () => r()));
    await within(gone, 15_000, 'closing an idle connection');
    assert.match(inst.output, /closing idle connection/);
  });
});

describe('handshake_timeout with a client that never closes its side', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  handshake_timeout: 1\n  max_unauthenticated_per_source: 1\n' });
  });
  after(() => inst.stop());

  test('a half-open client does not keep its connection slot after the handshake timeout', async () => {
    // allowHalfOpen: this client never closes its side after the server's FIN.
    const s = await rawSocket(inst, { allowHalfOpen: true });
    s.sock.write('SSH-2.0-OpenSSH_9.2p1 stall\r\n');
    try {
      await within(s.closed, 15_000, 'the server ending the silent connection');
      await waitUntil('a login while the half-open client lingers', async () => (await inst.ssh('alice', ['whoami'])).code === 0, Boolean, 10_000, 100);
    } finally {
      s.sock.destroy();
    }
  });
});

describe('limits.max_sessions_per_connection', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  max_sessions_per_connection: 2\n' });
  });
  after(() => inst.stop());

  test('a session beyond the limit is refused and the slot frees when one ends', async () => {
    const conn = await connectAs(inst, 'alice');
    try {
      // upload-pack waits for the client after its advertisement: each holds a session open.
      const s1 = await openExec(conn, "git-upload-pack 'myapp'");
      const s2 = await openExec(conn, "git-upload-pack 'myapp'");
      const c1 = closed(s1);
      const c2 = closed(s2);
      await assert.rejects(openExec(conn, 'whoami'), /open failure|rejected|prohibited/i);
      s1.end('0000');
      await c1;
      assert.match(await whoamiOnceASlotFrees(conn, 'a new session after one ended'), /^user: alice/);
      s2.end('0000');
      await c2;
    } finally {
      conn.end();
    }
    assertNoStackTrace(inst);
  });

  test('sessions closed without running anything (X11 refused) free their slot', async () => {
    const conn = await connectAs(inst, 'alice');
    try {
      // X11 forwarding is refused; the client then closes the session before any exec.
      // As many of those as the limit allows, then a plain exec must still get a session.
      for (let i = 0; i < 2; i++) {
        await assert.rejects(
          new Promise((resolve, reject) => conn.exec('whoami', { x11: true }, (err, ch) => (err ? reject(err) : resolve(ch)))),
          /Unable to request X11/,
        );
      }
      assert.match(await whoamiOnceASlotFrees(conn, 'a session after refused ones'), /^user: alice/);
    } finally {
      conn.end();
    }
  });
});

/** Runs `whoami` on the connection as soon as it gets a session again; its output. */
async function whoamiOnceASlotFrees(conn: SshClient, what: string): Promise<string> {
  return waitUntil(what, async () => closed(await openExec(conn, 'whoami')), () => true, 10_000, 100);
}
