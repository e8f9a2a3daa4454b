/**
 * What the SSH door offers and accepts: ssh-audit's verdict, server-sig-algs, SHA-1 refused,
 * no group exchange, rekeying and compression, the slipway.yml switches for old clients, and an
 * attacker's agent.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { gitEnv, makeWorkRepo, run, startInstance, type Instance } from './helpers/instance.ts';
import { rawExecWith } from './helpers/raw-git.ts';
import { OPENSSH_OPTS, waitFor } from './helpers/ssh-clients.ts';

describe('ssh-audit', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: ['alice'] });
  });
  after(() => inst.stop());

  test('ssh-audit finds nothing to fail', async () => {
    const r = await run('ssh-audit', ['-n', '-p', String(inst.port), '127.0.0.1'], { timeoutMs: 120_000 });
    assert.match(r.stdout, /\(kex\) curve25519-sha256 /, r.stdout);
    assert.doesNotMatch(r.stdout, /\[fail\]/);
  });
});

describe('algorithms', () => {
  let inst: Instance;
  let rsaKey: string;
  before(async () => {
    inst = await startInstance({ users: ['alice'], keyType: 'rsa' });
    rsaKey = inst.keys.alice!;
  });
  after(() => inst.stop());

  // Without LogLevel=ERROR: ssh reports negotiation failures at its default level.
  const ssh = (opts: string[], command = 'whoami') =>
    run('ssh', ['-i', rsaKey, ...opts, ...OPENSSH_OPTS.slice(0, -2), '-p', String(inst.port), 'paas@127.0.0.1', command], { env: gitEnv(inst.home) });

  test('server-sig-algs lists the signature algorithms accepted, P-521 and rsa-sha2-512 included, SHA-1 not', async () => {
    const r = await ssh(['-v']);
    assert.equal(r.code, 0, r.stderr);
    const algs = /server-sig-algs=<([^>]*)>/.exec(r.stderr)?.[1];
    assert.equal(algs, 'ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256');
  });

  test('a client limited to SHA-1 RSA signatures finds no mutual algorithm (server-sig-algs)', async () => {
    const r = await ssh(['-v', '-o', 'PubkeyAcceptedAlgorithms=ssh-rsa']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /no mutual signature algorithm/);
  });

  test('a client that ignores server-sig-algs and signs with SHA-1 is refused, saying why in the log', async () => {
    const from = inst.output.length;
    const c = new ssh2.Client();
    const failed = new Promise<Error>((resolve, reject) => {
      c.on('ready', () => reject(new Error('logged in with a SHA-1 signature')));
      c.on('error', resolve);
    });
    c.connect({ host: '127.0.0.1', port: inst.port, username: 'paas', privateKey: fs.readFileSync(rsaKey), readyTimeout: 15_000 });
    // Without server-sig-algs, ssh2's client falls back to ssh-rsa (SHA-1), as old clients do.
    (c as unknown as { _protocol: { _handlers: Record<string, unknown> } })._protocol._handlers.EXT_INFO = () => {};
    assert.match((await failed).message, /All configured authentication methods failed/);
    await waitFor(inst, /ssh-rsa \(SHA-1\) signature refused/, from);
  });

  test('no SHA-1 host signatures and no ECDSA host key by default', async () => {
    for (const algo of ['ssh-rsa', 'ecdsa-sha2-nistp256']) {
      const r = await ssh(['-o', `HostKeyAlgorithms=${algo}`]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /no matching host key type found\. Their offer: ssh-ed25519,rsa-sha2-512,rsa-sha2-256/);
    }
  });

  test('a client preferring group exchange, which the server cannot do, falls back to curve25519', async () => {
    const r = await ssh(['-v', '-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha256,curve25519-sha256']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /kex: algorithm: curve25519-sha256/);
    // Offered alone it fails at negotiation with a clear message (it used to be advertised).
    const only = await ssh(['-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha256']);
    assert.equal(only.code, 255);
    assert.match(only.stderr, /no matching key exchange method found/);
  });

  test('a clone survives rekeying every kilobyte, compressed', async () => {
    const work = await makeWorkRepo(inst, 'work-rekey', 3);
    assert.equal((await inst.git(['push', '-q', `${inst.url}/myapp`, 'main'], { cwd: work })).code, 0);
    const dest = path.join(inst.root, 'clone-rekey');
    const r = await inst.git(['clone', '-q', `${inst.url}/myapp`, dest], {
      env: { GIT_SSH_COMMAND: `${inst.sshCommand('alice')} -C -o RekeyLimit=1K` },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await run('git', ['-C', dest, 'rev-parse', 'HEAD'], { env: gitEnv(inst.home) })).stdout,
      (await run('git', ['-C', work, 'rev-parse', 'HEAD'], { env: gitEnv(inst.home) })).stdout);
  });

  test('compression starts only after authentication (zlib@openssh.com), and works', async () => {
    const r = await ssh(['-v', '-C']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /compression: zlib@openssh\.com/);
    assert.match(r.stdout, /^user: alice/);
  });
});

describe('slipway.yml ssh: settings for old clients', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: ['alice'], keyType: 'rsa', slipwayYml: 'ssh:\n  rsa_sha1_signatures: true\n  ecdsa_host_key: true\n' });
  });
  after(() => inst.stop());

  test('rsa_sha1_signatures: true lets an ssh-rsa (SHA-1) client in', async () => {
    const r = await inst.ssh('alice', ['whoami'], ['-o', 'PubkeyAcceptedAlgorithms=ssh-rsa']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^user: alice/);
  });

  test('ecdsa_host_key: true offers the ECDSA host key kept in the data dir', async () => {
    const knownHosts = path.join(inst.root, 'known_hosts_ecdsa');
    const r = await run('ssh', ['-i', inst.keys.alice!, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes',
      '-o', 'HostKeyAlgorithms=ecdsa-sha2-nistp256', '-p', String(inst.port), 'paas@127.0.0.1', 'whoami'], { env: gitEnv(inst.home) });
    assert.equal(r.code, 0, r.stderr);
    const stored = fs.readFileSync(path.join(inst.dataDir, 'hostkeys', 'ssh_host_ecdsa_key.pub'), 'utf8').split(' ')[1];
    assert.ok(fs.readFileSync(knownHosts, 'utf8').includes(stored!), 'the client saw the stored ECDSA key');
    assert.match(inst.output, /^ {2}ECDSA\s+SHA256:/m);
  });
});

describe('identity comes from the key that signed', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: ['alice', 'bob'], slipwayYml: 'users:\n  alice: admin\n  bob: {read: [myapp]}\n' });
  });
  after(() => inst.stop());

  test("offering alice's public key, then signing with bob's: you are bob", async () => {
    const alicePub = ssh2.utils.parseKey(fs.readFileSync(`${inst.keys.alice}.pub`));
    const bob = ssh2.utils.parseKey(fs.readFileSync(inst.keys.bob!));
    if (alicePub instanceof Error || bob instanceof Error) throw new Error('unreadable test key');
    // An agent that lists alice's key first but can only sign with bob's.
    class LyingAgent extends ssh2.BaseAgent<ssh2.ParsedKey> {
      override getIdentities(cb: (err: Error | undefined, keys?: ssh2.ParsedKey[]) => void) {
        cb(undefined, [alicePub as ssh2.ParsedKey, bob as ssh2.ParsedKey]);
      }
      override sign(_key: ssh2.ParsedKey, data: Buffer, options: ssh2.SigningRequestOptions | ssh2.SignCallback, cb?: ssh2.SignCallback) {
        const done = typeof options === 'function' ? options : cb!;
        const hash = typeof options === 'function' ? undefined : options.hash;
        done(undefined, (bob as ssh2.ParsedKey).sign(data, hash) as Buffer);
      }
    }
    const from = inst.output.length;
    const out = (await rawExecWith(inst, { agent: new LyingAgent() }, 'whoami')).stdout.toString();
    assert.match(out, /^user: bob\nrole: read/);
    const log = inst.output.slice(from);
    assert.match(log, /signature did not verify/);
    assert.doesNotMatch(log, /authenticated .*user=alice/);
  });
});
