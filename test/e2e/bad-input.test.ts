/**
 * Hostile and broken clients. An attacker speaks the raw protocol with the `ssh2` client and a valid
 * key; for every case the client gets a clear message where the protocol has room for one, the
 * server logs one line (never a stack), keeps serving, and the repo keeps its refs and passes fsck
 * with nothing left behind (no quarantine dir, no lock file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertFsckClean,
  commitChange,
  gitEnv,
  makeKey,
  makeWorkRepo,
  run,
  serverRef,
  startInstance,
  tempDir,
  assertNoStackTrace,
  waitUntil,
  type Instance,
} from './helpers/instance.ts';
import {
  FLUSH,
  pkt,
  parsePkts,
  reportStatus,
  connect,
  connectAs,
  openExec,
  collect,
  rawExec,
  pushCommand,
  packObjects,
  objectCount,
  withChecksum,
  assertNoLeftovers,
  logLine,
  assertPackRefusalLogged,
  refs,
  assertStillServes,
  assertUnharmed,
} from './helpers/raw-git.ts';

// ---------------------------------------------------------------- the attacks

describe('bad input over an authenticated connection', () => {
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({ users: ['alice'], strangers: ['mallory'] });
    work = await makeWorkRepo(inst, 'work', 2);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => inst.stop());

  /** A new commit on top of the server's main, not pushed: its pack and the command that would push it. */
  async function nextPush(label: string, caps = 'report-status agent=attacker/1') {
    const old = (await serverRef(inst, 'myapp', 'refs/heads/main'))!;
    const next = await commitChange(work, inst, label);
    const pack = packObjects(inst, work, [next, `^${old}`]);
    return { old, next, pack, commands: pushCommand(old, next, 'refs/heads/main', caps) };
  }

  for (const service of ['git-receive-pack', 'git-upload-pack']) {
    test(`${service}: garbage instead of a pkt-line is refused with a message and the ref stays`, async () => {
      const before = await refs(inst);
      const from = inst.output.length;
      const r = await rawExec(inst, `${service} 'myapp'`, 'zzzz0000');
      assert.match(r.stderr, /invalid pkt-line length 'zzzz'/);
      assert.notEqual(r.code, 0);
      await logLine(inst, from, /protocol error .*invalid pkt-line length/);
      await assertUnharmed(inst, before);
    });

    test(`${service}: a pkt-line cut off by EOF is refused with a message and the ref stays`, async () => {
      const before = await refs(inst);
      const from = inst.output.length;
      const r = await rawExec(inst, `${service} 'myapp'`, '00ffwant ');
      assert.match(r.stderr, /connection closed in the middle of a pkt-line/);
      assert.notEqual(r.code, 0);
      await logLine(inst, from, /protocol error .*middle of a pkt-line/);
      await assertUnharmed(inst, before);
    });

    test(`${service}: a pkt-line longer than the protocol allows is refused`, async () => {
      const before = await refs(inst);
      const from = inst.output.length;
      const r = await rawExec(inst, `${service} 'myapp'`, 'ffff' + 'a'.repeat(100));
      assert.match(r.stderr, /pkt-line too long/);
      await logLine(inst, from, /protocol error .*pkt-line too long/);
      await assertUnharmed(inst, before);
    });
  }

  test('a malformed push command is refused with a message and the ref stays', async () => {
    const main = (await serverRef(inst, 'myapp', 'refs/heads/main'))!;
    for (const line of ['hello world', `${main} ${'z'.repeat(40)} refs/heads/main`, `${main} ${main}`, `${main}  ${main} refs/heads/main`]) {
      const before = await refs(inst);
      const from = inst.output.length;
      const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([pkt(`${line}\0report-status\n`), FLUSH]));
      assert.match(r.stderr, /malformed push command/, line);
      assert.notEqual(r.code, 0);
      await logLine(inst, from, /protocol error .*malformed push command/);
      await assertUnharmed(inst, before);
    }
  });

  test('an upload-pack request for an object that was never advertised is refused', async () => {
    const before = await refs(inst);
    const from = inst.output.length;
    const r = await rawExec(inst, "git-upload-pack 'myapp'", Buffer.concat([pkt(`want ${'1'.repeat(40)} side-band-64k\n`), FLUSH, pkt('done\n')]));
    assert.match(r.stderr, /not our ref/);
    await logLine(inst, from, /protocol error .*not our ref/);
    await assertUnharmed(inst, before);
  });

  test('a pack that lies about its object count is refused and the ref stays', async () => {
    const { pack, commands } = await nextPush('count lie');
    const body = Buffer.from(pack.subarray(0, pack.length - 20));
    body.writeUInt32BE(objectCount(pack) + 3, 8);
    const before = await refs(inst);
    const from = inst.output.length;
    const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([commands, withChecksum(body)]));
    // The pack's end is where its count says: its trailer is read as the next entry, whose
    // header (checksum bytes) may also declare a size past limits.max_object_size.
    const { lines } = reportStatus(r.stdout, false);
    const reason = /^unpack (pack entry at offset \d+ (?:has|inflates)|pack is truncated: expected \d+ objects|(?:commit|tree|blob|tag|delta) at offset \d+ is [\d.]+ \w+ inflated)/.exec(lines[0] ?? '')?.[1];
    assert.ok(reason, `report-status: ${JSON.stringify(lines)}`);
    assert.deepEqual(lines.slice(1), ['ng refs/heads/main unpacker error']);
    assert.match(r.stderr, new RegExp(reason));
    await assertUnharmed(inst, before);
    await assertPackRefusalLogged(inst, from, reason);
  });

  test('a pack with more objects than its header says is refused and the ref stays', async () => {
    const { pack, commands } = await nextPush('count lie low');
    const body = Buffer.from(pack.subarray(0, pack.length - 20));
    body.writeUInt32BE(objectCount(pack) - 1, 8);
    const before = await refs(inst);
    const from = inst.output.length;
    const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([commands, withChecksum(body)]));
    const { lines } = reportStatus(r.stdout, false);
    assert.match(lines[0] ?? '', /^unpack pack has \d+ bytes of unexpected data after its \d+ objects$/, `report-status: ${JSON.stringify(lines)}`);
    assert.deepEqual(lines.slice(1), ['ng refs/heads/main unpacker error']);
    await assertUnharmed(inst, before);
    await assertPackRefusalLogged(inst, from, 'unexpected data after its');
  });

  test('a pack cut off in the middle of an object is refused and the ref stays', async () => {
    const { pack, commands } = await nextPush('cut off');
    const before = await refs(inst);
    const from = inst.output.length;
    const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([commands, pack.subarray(0, Math.floor(pack.length / 2))]));
    const { lines } = reportStatus(r.stdout, false);
    assert.match(lines[0] ?? '', /^unpack pack is truncated: expected \d+ objects, got \d+$/, `report-status: ${JSON.stringify(lines)}`);
    assert.deepEqual(lines.slice(1), ['ng refs/heads/main unpacker error']);
    assert.match(r.stderr, /^error: pack is truncated/);
    await assertUnharmed(inst, before);
    await assertPackRefusalLogged(inst, from, 'pack is truncated');
  });

  test('a pack with a wrong checksum is refused as a checksum mismatch and the ref stays', async () => {
    for (const sideband of [false, true]) {
      const caps = sideband ? 'report-status side-band-64k agent=attacker/1' : 'report-status agent=attacker/1';
      const { pack, commands } = await nextPush(`bad checksum ${sideband}`, caps);
      const bad = Buffer.from(pack);
      bad[bad.length - 5]! ^= 0xff;
      const before = await refs(inst);
      const from = inst.output.length;
      const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([commands, bad]));
      const { lines, progress } = reportStatus(r.stdout, sideband);
      assert.deepEqual(lines, ['unpack pack checksum mismatch', 'ng refs/heads/main unpacker error']);
      // With side-band the message travels in the stream (git shows it as `remote: …`), else on stderr.
      assert.match(sideband ? progress : r.stderr, /error: pack checksum mismatch/);
      await assertUnharmed(inst, before);
      await assertPackRefusalLogged(inst, from, 'pack checksum mismatch');
    }
  });

  test('a pack with a flipped byte inside an object is refused and the ref stays', async () => {
    const { pack, commands } = await nextPush('flipped');
    for (const at of [12, 14, Math.floor(pack.length / 2), pack.length - 25]) {
      const body = Buffer.from(pack.subarray(0, pack.length - 20));
      body[at]! ^= 0x55;
      const before = await refs(inst);
      const from = inst.output.length;
      const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([commands, withChecksum(body)]));
      const { lines } = reportStatus(r.stdout, false);
      assert.match(lines[0] ?? '', /^unpack pack (entry at offset \d+ |is truncated)/, `flip at ${at} of ${pack.length}: ${JSON.stringify(lines)}`);
      assert.deepEqual(lines.slice(1), ['ng refs/heads/main unpacker error']);
      await assertUnharmed(inst, before);
      await assertPackRefusalLogged(inst, from, lines[0]!.slice('unpack '.length));
    }
  });

  test('a push command naming an object the pack does not contain is refused and the ref stays', async () => {
    const { old, pack } = await nextPush('missing object');
    const before = await refs(inst);
    const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([pushCommand(old, 'ab'.repeat(20), 'refs/heads/main', 'report-status'), pack]));
    const { lines } = reportStatus(r.stdout, false);
    assert.equal(lines[0], 'unpack ok');
    assert.match(lines[1] ?? '', /^ng refs\/heads\/main missing necessary objects/);
    await assertUnharmed(inst, before);
  });

  test('a disconnect at any byte of a push leaves no trace and the ref stays', async () => {
    const caps = 'report-status side-band-64k quiet agent=git/2.39.5';
    const { next, pack, commands } = await nextPush('disconnect', caps);
    const bytes = Buffer.concat([commands, pack]);
    const c = commands.length;
    const offsets = [...new Set([0, 2, 50, c - 5, c - 1, c, c + 6, c + 12, c + 20, c + Math.floor(pack.length / 2), bytes.length - 21, bytes.length - 1])].sort((a, b) => a - b);
    const before = await refs(inst);
    // Each receive-pack session logs exactly one of these when it ends.
    const ended = /receive-pack: (protocol error|client disconnected|done) /g;
    const loopStart = inst.output.length;
    for (const [i, offset] of offsets.entries()) {
      const conn = await connectAs(inst, 'alice');
      const ch = await openExec(conn, "git-receive-pack 'myapp'");
      ch.on('data', () => {});
      ch.stderr.on('data', () => {});
      if (offset > 0) await new Promise<void>((r) => ch.write(bytes.subarray(0, offset), () => r()));
      // Alternate between a dropped TCP connection and a channel closed without EOF.
      if (i % 2 === 0) conn.destroy();
      else {
        ch.close();
        conn.end();
      }
      await waitUntil(`the end of session ${i + 1} (cut at byte ${offset}) in the log`, () => inst.output.slice(loopStart).match(ended)?.length ?? 0, (n) => n >= i + 1);
      await assertNoLeftovers(inst, 'myapp');
      assert.equal(await refs(inst), before, `refs changed after a disconnect at byte ${offset} of ${bytes.length}`);
      const visible = await inst.serverGit('myapp', ['cat-file', '-e', next]);
      assert.notEqual(visible.code, 0, `the pushed commit became visible after a disconnect at byte ${offset}`);
    }
    await assertUnharmed(inst, before);

    // The same bytes, sent whole, are a valid push: the cuts above were cuts of a real push.
    const r = await rawExec(inst, "git-receive-pack 'myapp'", bytes);
    assert.deepEqual(reportStatus(r.stdout, true).lines, ['unpack ok', 'ok refs/heads/main']);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), next);
    await assertFsckClean(inst, 'myapp');
    await assertStillServes(inst);
  });

  test('repo paths that try to leave the data dir are refused as invalid', async () => {
    const before = await refs(inst);
    for (const service of ['git-upload-pack', 'git-receive-pack']) {
      for (const p of ['../../etc', '/etc/passwd', 'a/../b', '../myapp', 'myapp/..', '~/../myapp', '.', '..', '/', 'my app', 'myapp/objects']) {
        const from = inst.output.length;
        const r = await rawExec(inst, `${service} '${p}'`);
        const pkts = parsePkts(r.stdout);
        assert.equal(pkts.length, 1, `${service} '${p}': ${JSON.stringify(pkts)}`);
        assert.match(pkts[0]!, /^ERR invalid repository path '.*' \(expected a repo name such as 'myapp'\)\n$/, `${service} '${p}'`);
        assert.notEqual(r.code, 0);
        await logLine(inst, from, /git request refused .*invalid repository path/);
      }
    }
    const dir = path.join(tempDir(), 'c');
    const r = await inst.git(['clone', `${inst.url}/../../etc`, dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fatal: remote error: invalid repository path/);
    assert.equal(fs.existsSync(path.join(dir, '.git')), false);
    await assertUnharmed(inst, before);
  });

  test('an unknown repo is reported as not found, to raw clients and to git', async () => {
    const before = await refs(inst);
    for (const service of ['git-upload-pack', 'git-receive-pack']) {
      const from = inst.output.length;
      const r = await rawExec(inst, `${service} 'nope'`);
      assert.deepEqual(parsePkts(r.stdout), ["ERR repository 'nope' not found\n"]);
      assert.notEqual(r.code, 0);
      await logLine(inst, from, /git request refused .*not found/);
    }
    const r = await inst.git(['clone', `${inst.url}/nope`, path.join(tempDir(), 'c')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fatal: remote error: repository 'nope' not found/);
    await assertUnharmed(inst, before);
  });

  test('exec strings that do not parse are refused with a message', async () => {
    const before = await refs(inst);
    for (const [cmd, re] of [
      ["git-upload-pack 'myapp", /unterminated single quote/],
      ['git-upload-pack', /usage: git-upload-pack '<repo>'/],
      ["git-upload-pack 'a' 'b'", /usage: git-upload-pack '<repo>'/],
      ['x'.repeat(5000), /command too long/],
    ] as const) {
      const r = await rawExec(inst, cmd);
      assert.match(r.stderr, re, cmd.slice(0, 40));
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout.length, 0);
    }
    await assertUnharmed(inst, before);
  });

  test("an unknown command exits 127 with unknown command 'X'; try 'help'", async () => {
    const from = inst.output.length;
    const r = await inst.ssh('alice', ['frobnicate', '--now']);
    assert.equal(r.code, 127);
    assert.equal(r.stderr, "unknown command 'frobnicate'; try 'help'\n");
    assert.equal(r.stdout, '');
    await logLine(inst, from, /command .*frobnicate/);
    assertNoStackTrace(inst);
  });

  test('help lists the commands and whoami names the user', async () => {
    const help = await inst.ssh('alice', ['help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Commands/m);
    assert.match(help.stdout, /^ +help \[<command>\] +list the commands, or explain one$/m);
    assert.match(help.stdout, /^ +whoami +/m);
    assert.match(help.stdout, /git push ssh:\/\//);
    const who = await inst.ssh('alice', ['whoami']);
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /^user: alice\nrole: admin\nkey: +SHA256:\S+\nrepos: myapp\n$/);
    const fp = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${inst.keys.alice}.pub`]).stdout.toString().split(' ')[1];
    assert.ok(who.stdout.includes(`key:  ${fp}\n`), `${who.stdout} vs ${fp}`);
  });

  test('help <command> and <command> --help print its usage; a mistyped repo or flag is an error, never silence', async () => {
    const usage = await inst.ssh('alice', ['status', '--help']);
    assert.equal(usage.code, 0, usage.stderr);
    assert.match(usage.stdout, /^usage: status \[<repo> \[<branch>\]\] \[--json\]\nwhat runs: /);
    const viaHelp = await inst.ssh('alice', ['help', 'status']);
    assert.equal(viaHelp.code, 0, viaHelp.stderr);
    assert.equal(viaHelp.stdout, usage.stdout);

    // An admin sees every repo, so a typo used to print nothing and exit 0.
    const typo = await inst.ssh('alice', ['status', 'myap']);
    assert.deepEqual([typo.code, typo.stdout, typo.stderr], [1, '', "repository 'myap' not found\n"]);
    const flag = await inst.ssh('alice', ['status', 'myapp', '--all']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^unknown flag '--all' \(status takes --json\)\nusage: status \[<repo> \[<branch>\]\] \[--json\]\n$/);
    const unknown = await inst.ssh('alice', ['help', 'stauts']);
    assert.deepEqual([unknown.code, unknown.stderr], [127, "unknown command 'stauts'; try 'help'\n"]);
    assertNoStackTrace(inst);
  });

  test('a shell without a pty prints the help and exits 0', async () => {
    const r = await inst.ssh('alice', [], ['-T']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Commands/);
    assert.match(r.stdout, /whoami/);
  });

  test('password and keyboard-interactive logins are refused', async () => {
    await assert.rejects(connect(inst, { password: 'hunter2' }), /All configured authentication methods failed/);
    await assert.rejects(connect(inst, { password: 'hunter2', tryKeyboard: true }), /All configured authentication methods failed/);
    const r = await run('ssh', [
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'PreferredAuthentications=password,keyboard-interactive', '-o', 'PubkeyAuthentication=no',
      '-p', String(inst.port), 'paas@127.0.0.1', 'whoami',
    ], { env: gitEnv(inst.home) });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    assertNoStackTrace(inst);
    await assertStillServes(inst);
  });

  test('port forwarding, agent forwarding and subsystems are refused', async () => {
    const conn = await connectAs(inst, 'alice');
    try {
      await assert.rejects(
        new Promise((resolve, reject) => conn.forwardOut('127.0.0.1', 12345, '127.0.0.1', inst.port, (err, ch) => (err ? reject(err) : resolve(ch)))),
        /open failure|prohibited|rejected/i,
      );
      await assert.rejects(
        new Promise((resolve, reject) => conn.forwardIn('127.0.0.1', 0, (err, port) => (err ? reject(err) : resolve(port)))),
        /Unable to bind|rejected|fail/i,
      );
      await assert.rejects(new Promise((resolve, reject) => conn.sftp((err, s) => (err ? reject(err) : resolve(s)))));
      // The connection still works for what it is for.
      const ch = await openExec(conn, 'whoami');
      const who = await collect(ch);
      assert.match(who.stdout.toString(), /^user: alice/);
    } finally {
      conn.end();
    }
    // Stock OpenSSH: stdio forwarding (direct-tcpip) and a remote forward are both refused.
    const w = await inst.ssh('alice', [], ['-W', `127.0.0.1:${inst.port}`]);
    assert.equal(w.code, 255);
    assert.match(w.stderr, /stdio forwarding failed|open failed|prohibited/i);
    const rf = await inst.ssh('alice', [], ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '127.0.0.1:0:127.0.0.1:9']);
    assert.equal(rf.code, 255);
    assert.match(rf.stderr, /remote port forwarding failed/);
    assertNoStackTrace(inst);
    await assertStillServes(inst);
  });

  test('an unknown key is refused and logged', async () => {
    const from = inst.output.length;
    const r = await inst.ssh('mallory', ['whoami']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    const fresh = makeKey(tempDir(), 'fresh');
    await assert.rejects(connect(inst, { privateKey: fs.readFileSync(fresh) }), /All configured authentication methods failed/);
    await logLine(inst, from, /unknown key/);
    assertNoStackTrace(inst);
    await assertStillServes(inst);
  });
});

describe('limits.max_pack_size', () => {
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({ slipwayYml: 'limits:\n  max_pack_size: 2k\n' });
    work = await makeWorkRepo(inst, 'work', 1);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work });
    assert.equal(r.code, 0, `a small first push must fit in 2k:\n${r.stderr}`);
  });
  after(() => inst.stop());

  test('a pack over the limit is refused with the limit named and the ref stays', async () => {
    const old = (await serverRef(inst, 'myapp', 'refs/heads/main'))!;
    const next = await commitChange(work, inst, 'big', { 'big.bin': crypto.randomBytes(64 * 1024).toString('base64') });
    const before = await refs(inst);

    const from = inst.output.length;
    const pushed = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work });
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /pack exceeds the limit of 2 KiB \(limits\.max_pack_size\)/);
    await assertUnharmed(inst, before);
    await assertPackRefusalLogged(inst, from, 'pack exceeds the limit');

    const pack = packObjects(inst, work, [next, `^${old}`]);
    const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([pushCommand(old, next, 'refs/heads/main', 'report-status'), pack]));
    assert.deepEqual(reportStatus(r.stdout, false).lines, ['unpack pack exceeds the limit of 2 KiB (limits.max_pack_size)', 'ng refs/heads/main unpacker error']);
    await assertUnharmed(inst, before);
  });
});
