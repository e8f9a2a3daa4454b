/**
 * Live configuration, through real OpenSSH: the config dir is watched and `reload` (or SIGHUP)
 * applies it without a restart. Keys and roles take effect for new connections, a removed key's
 * open session is closed, a broken config is refused whole while the old one keeps working, and
 * changed limits apply to the running gateway.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startInstance, waitUntil, within, type Instance } from './helpers/instance.ts';
import { connectAs, type SshClient } from './helpers/raw-git.ts';

/** `ssh -N` as `user`: a connection that stays open with no command. */
function holdOpen(inst: Instance, user: string): { child: ChildProcess; exited: Promise<number | null> } {
  const args = [...inst.sshCommand(user).split(' ').slice(1), '-N', '-p', String(inst.port), 'paas@127.0.0.1'];
  const child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited };
}

function logins(inst: Instance, user: string): number {
  return (inst.output.match(new RegExp(`authenticated .*user=${user}\\b`, 'g')) ?? []).length;
}

describe('live configuration: keys, users, sessions and a refused config', () => {
  let inst: Instance;
  const mainYml = (users: Record<string, string>, extra = '') => `users:\n${Object.entries(users).map(([u, r]) => `  ${u}: ${r}\n`).join('')}${extra}`;
  const writeMain = (text: string) => fs.writeFileSync(path.join(inst.configDir, 'slipway.yml'), text);
  const addKey = (user: string) => fs.copyFileSync(`${inst.keys[user]}.pub`, path.join(inst.configDir, 'keys', `${user}.pub`));

  before(async () => {
    inst = await startInstance({ users: ['alice'], strangers: ['bob', 'carol'], slipwayYml: mainYml({ alice: 'admin' }) });
  });
  after(() => inst.stop());

  test('a key added to keys/ and to users is let in without a restart: the config dir is watched', async () => {
    assert.notEqual((await inst.ssh('bob', ['whoami'])).code, 0, 'bob is not in the config yet');
    addKey('bob');
    writeMain(mainYml({ alice: 'admin', bob: '{read: [myapp]}' }));
    const r = await waitUntil('bob to get in', () => inst.ssh('bob', ['whoami']), (x) => x.code === 0, 15_000, 200);
    assert.match(r.stdout, /bob/);
    assert.match(inst.output, /config reloaded .*by=watch/);
  });

  test('`reload` applies the config dir on demand and says so', async () => {
    addKey('carol');
    writeMain(mainYml({ alice: 'admin', bob: '{read: [myapp]}', carol: '{read: [myapp]}' }));
    const r = await inst.ssh('alice', ['reload']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config applied/m);
    // Reloads queue: whether the watch or `reload` read the change first, it is applied once `reload` answers.
    const carol = await inst.ssh('carol', ['whoami']);
    assert.equal(carol.code, 0, carol.stderr);
    const denied = await inst.ssh('bob', ['reload']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^permission denied: bob may not/m);
  });

  test('a removed key loses its open session; other sessions stay open', async () => {
    const bobBefore = logins(inst, 'bob');
    const aliceBefore = logins(inst, 'alice');
    const bob = holdOpen(inst, 'bob');
    const alice = holdOpen(inst, 'alice');
    try {
      await waitUntil('both ssh -N to log in', () => [logins(inst, 'bob'), logins(inst, 'alice')], ([b, a]) => b! > bobBefore && a! > aliceBefore, 10_000);
      fs.rmSync(path.join(inst.configDir, 'keys', 'bob.pub'));
      const code = await within(bob.exited, 15_000, "bob's ssh -N to be disconnected");
      assert.notEqual(code, 0);
      assert.match(inst.output, /closing a connection: its key is no longer in the config .*user=bob/);
      assert.equal(alice.child.exitCode, null, "alice's session stays open");
      assert.notEqual((await inst.ssh('bob', ['whoami'])).code, 0, 'bob cannot log in again');
    } finally {
      bob.child.kill();
      alice.child.kill();
    }
  });

  test('broken YAML is refused whole with the file named; `reload` exits 1 and the running config keeps working', async () => {
    const good = fs.readFileSync(path.join(inst.configDir, 'slipway.yml'), 'utf8');
    // carol loses her role in the same edit: since the edit is refused, she keeps it.
    writeMain('users:\n  alice: admin\n  carol: [read\n');
    const r = await inst.ssh('alice', ['reload']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^slipway\.yml: .+/m);
    assert.match(r.stderr, /the config on disk is not applied, the running config stays/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    assert.match(inst.output, /config reload refused, the config on disk is not applied: slipway\.yml: /);
    const st = await inst.ssh('alice', ['status']);
    assert.match(st.stdout, /^config on disk refused \((alice|watch), .* ago\); the running config stays:\n  slipway\.yml: /m, st.stdout);
    const stJson = JSON.parse((await inst.ssh('alice', ['status', '--json'])).stdout);
    assert.match(stJson.config.refused.by, /^(alice|watch)$/, 'the watch may see the edit before the reload does');
    assert.match(stJson.config.refused.problems[0], /^slipway\.yml: /);
    const carol = await inst.ssh('carol', ['whoami']);
    assert.equal(carol.code, 0, 'the old config still lets carol in');
    const carolSt = JSON.parse((await inst.ssh('carol', ['status', '--json'])).stdout);
    assert.deepEqual(carolSt.config.refused.problems, [], 'the problems quote the config: admins only');
    assert.equal((await inst.ssh('alice', ['whoami'])).code, 0);

    writeMain(good);
    const fixed = await inst.ssh('alice', ['reload']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(JSON.parse((await inst.ssh('alice', ['status', '--json'])).stdout).config.refused, null);
  });

  test('a schema error names the file and the key', async () => {
    const good = fs.readFileSync(path.join(inst.configDir, 'slipway.yml'), 'utf8');
    fs.writeFileSync(path.join(inst.configDir, 'repos', 'broken.yml'), 'branches:\n  main:\n    runners:\n      web: {type: Foo, cmd: x}\n');
    try {
      const r = await inst.ssh('alice', ['reload']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^repos\/broken\.yml: branches\.main\.runners\.web\.type: /m);
      assert.equal((await inst.ssh('carol', ['whoami'])).code, 0);
    } finally {
      fs.rmSync(path.join(inst.configDir, 'repos', 'broken.yml'));
      writeMain(good);
    }
    assert.equal((await inst.ssh('alice', ['reload'])).code, 0);
  });
});

describe('live configuration: limits', () => {
  let inst: Instance;
  const open: SshClient[] = [];
  const writeLimit = (n: number) => fs.writeFileSync(path.join(inst.configDir, 'slipway.yml'), `limits:\n  max_connections: ${n}\n`);
  before(async () => {
    inst = await startInstance({ users: ['alice', 'bob'], slipwayYml: 'limits:\n  max_connections: 10\n' });
  });
  after(async () => {
    for (const c of open) c.end();
    await inst.stop();
  });

  test('a lowered limits.max_connections applies to the running gateway after a reload, and a raised one too', async () => {
    writeLimit(2);
    assert.equal((await inst.ssh('alice', ['reload'])).code, 0);
    open.push(await connectAs(inst, 'alice'), await connectAs(inst, 'bob'));
    const full = await inst.ssh('bob', ['whoami']);
    assert.notEqual(full.code, 0, 'a third connection is refused');
    assert.match(inst.output, /login refused: limits\.max_connections reached .*max=2/);

    writeLimit(3);
    // The held connections leave no room for `reload`: SIGHUP applies it.
    const before_ = (inst.output.match(/config reloaded/g) ?? []).length;
    inst.proc!.kill('SIGHUP');
    await waitUntil('the reload', () => (inst.output.match(/config reloaded/g) ?? []).length, (n) => n > before_, 10_000);
    const r = await inst.ssh('bob', ['whoami']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('a lowered idle_timeout applies to connections already open', async () => {
    for (const c of open.splice(0)) c.end();
    const conn = await connectAs(inst, 'alice');
    const closed = new Promise<void>((r) => conn.once('close', () => r()));
    fs.writeFileSync(path.join(inst.configDir, 'slipway.yml'), 'limits:\n  max_connections: 10\n  idle_timeout: 1\n');
    assert.equal((await inst.ssh('bob', ['reload'])).code, 0);
    await within(closed, 10_000, 'the idle connection (opened under the default 10 minutes) to be closed');
    assert.match(inst.output, /closing idle connection .*user=alice/);
  });
});
