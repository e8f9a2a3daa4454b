/**
 * The SSH door with clients nobody tuned to: PuTTY's plink, dropbear's dbclient, asyncssh,
 * paramiko, libssh (a small C client compiled here), Go's x/crypto/ssh (likewise) and OpenSSH,
 * each with every key type it
 * supports; ssh-audit on the algorithms; and an attacker's agent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import {
  gitEnv, makeKey, makeWorkRepo, requireTools, run, startInstance, tempDir,
  type Instance, type KeyType, type RunResult,
} from './helpers/instance.ts';

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

const CLIENTS_DIR = path.join(import.meta.dirname, 'clients');
const KEY_TYPES: KeyType[] = ['ed25519', 'rsa', 'ecdsa', 'ecdsa-384', 'ecdsa-521'];
const OPENSSH_OPTS = ['-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'];

interface ClientKey {
  type: KeyType;
  /** OpenSSH private key file */
  file: string;
  fingerprint: string;
}

/** Builds the libssh client once per run. */
function libsshClient(): string {
  const out = path.join(tempDir('slipway-libssh-'), 'libssh-exec');
  const r = spawnSync('gcc', ['-O1', '-o', out, path.join(CLIENTS_DIR, 'libssh-exec.c'), '-lssh']);
  if (r.status !== 0) throw new Error(`compiling the libssh client failed: ${r.stderr}`);
  return out;
}

/** Builds the Go client (golang.org/x/crypto/ssh from Debian's package, no network) once per run. */
function goClient(): string {
  const dir = tempDir('slipway-go-');
  const out = path.join(dir, 'go-exec');
  const r = spawnSync('go', ['build', '-o', out, path.join(CLIENTS_DIR, 'go-exec.go')], {
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: path.join(dir, 'cache'), GOFLAGS: '' },
  });
  if (r.status !== 0) throw new Error(`compiling the Go client failed: ${r.stderr}`);
  return out;
}

/** Host key fingerprints as `slipway serve` printed them. */
function hostFingerprints(inst: Instance): string[] {
  return [...inst.output.matchAll(/^ {2}\w+\s+(SHA256:\S+)$/gm)].map((m) => m[1]!);
}

function fingerprintOf(pubFile: string): string {
  return /SHA256:\S+/.exec(spawnSync('ssh-keygen', ['-lf', pubFile]).stdout.toString())![0];
}

async function waitFor(inst: Instance, pattern: RegExp, from: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(inst.output.slice(from))) {
    if (Date.now() > deadline) assert.fail(`server log never matched ${pattern}:\n${inst.output.slice(from)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Gives alice one more key of every type (reloading the config with SIGHUP). */
async function keysOfEveryType(inst: Instance): Promise<ClientKey[]> {
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

type Client = (key: ClientKey, command: string) => Promise<RunResult>;

function clients(inst: Instance, libssh: string, go: string): Record<string, Client> {
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
    libssh: (key, command) => run(libssh, ['127.0.0.1', port, key.file, command], { env }),
    go: (key, command) => run(go, [port, key.file, command], { env }),
  };
}

describe('every common client logs in with every key type', () => {
  let inst: Instance;
  let keys: ClientKey[];
  let all: Record<string, Client>;
  before(async () => {
    // 50 logins at once from one address: more than the default pre-auth share of a source.
    inst = await startInstance({ users: ['alice'], slipwayYml: 'limits:\n  max_unauthenticated_per_source: 64\n' });
    keys = await keysOfEveryType(inst);
    all = clients(inst, libsshClient(), goClient());
  });
  after(() => inst.stop());

  for (const name of ['openssh', 'plink', 'dbclient', 'asyncssh', 'paramiko', 'libssh', 'go']) {
    test(`${name}: ed25519, RSA and ECDSA P-256/384/521 keys each run a command as alice`, async () => {
      const failures: string[] = [];
      await Promise.all(keys.map(async (key) => {
        const r = await all[name]!(key, 'whoami');
        // whoami names the key that logged in: each type really was the one used.
        if (r.code !== 0 || !r.stdout.startsWith('user: alice') || !r.stdout.includes(key.fingerprint)) {
          failures.push(`${key.type}: exit ${r.code}: ${r.stdout}${r.stderr}`.trim());
        }
      }));
      assert.deepEqual(failures, []);
    });
  }

  const viaGit = [
    ['plink', 'main', (k: string, p: number) => `plink -batch -ssh -P ${p} -i ${k}.ppk`],
    ['dbclient', 'staging', (k: string, p: number) => `dbclient -y -y -i ${k}.db -p ${p}`],
  ] as const;
  for (const [name, branch, command] of viaGit) {
    test(`git clones through ${name} with an RSA key`, async () => {
      const work = await makeWorkRepo(inst, `work-${name}`, 2);
      const pushed = await inst.git(['push', '-q', `${inst.url}/myapp`, `main:${branch}`], { cwd: work });
      assert.equal(pushed.code, 0, pushed.stderr);
      const key = keys.find((k) => k.type === 'rsa')!;
      await all[name]!(key, 'whoami'); // converts the key for this client
      const hostKeys = hostFingerprints(inst).map((f) => `-hostkey ${f}`).join(' ');
      const sshCommand = name === 'plink' ? `${command(key.file, inst.port)} ${hostKeys}` : command(key.file, inst.port);
      const dest = path.join(inst.root, `clone-${name}`);
      const r = await run('git', ['clone', '-q', '-b', branch, 'paas@127.0.0.1:myapp', dest], {
        env: gitEnv(inst.home, { GIT_SSH_COMMAND: sshCommand, GIT_SSH_VARIANT: 'simple' }),
      });
      assert.equal(r.code, 0, r.stderr);
      const head = await run('git', ['-C', dest, 'rev-parse', 'HEAD'], { env: gitEnv(inst.home) });
      const local = await run('git', ['-C', work, 'rev-parse', 'HEAD'], { env: gitEnv(inst.home) });
      assert.equal(head.stdout, local.stdout);
    });
  }

  test('500 plink logins with an RSA key all succeed (PuTTY sends short RSA signatures about 1 in 256)', async () => {
    const key = keys.find((k) => k.type === 'rsa')!;
    const failures: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 50 }, async () => {
        const r = await all.plink!(key, 'help');
        if (r.code !== 0) failures.push(r.stderr.trim());
      }));
    }
    assert.deepEqual(failures, []);
  });

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
    const out = await new Promise<string>((resolve, reject) => {
      const c = new ssh2.Client();
      c.on('ready', () => c.exec('whoami', (err, ch) => {
        if (err) return reject(err);
        let text = '';
        ch.on('data', (d: Buffer) => (text += d));
        ch.on('close', () => {
          c.end();
          resolve(text);
        });
      }));
      c.on('error', reject);
      c.connect({ host: '127.0.0.1', port: inst.port, username: 'paas', agent: new LyingAgent(), readyTimeout: 15_000 });
    });
    assert.match(out, /^user: bob\nrole: read/);
    const log = inst.output.slice(from);
    assert.match(log, /signature did not verify/);
    assert.doesNotMatch(log, /authenticated .*user=alice/);
  });
});
