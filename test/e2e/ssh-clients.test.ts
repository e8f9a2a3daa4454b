/**
 * The SSH door with clients nobody tuned to: PuTTY's plink, dropbear's dbclient, asyncssh,
 * paramiko, libssh, Go's x/crypto/ssh and OpenSSH, each with every key type it supports, and
 * git clones through plink and dbclient.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gitEnv, makeWorkRepo, run, startInstance, type Instance } from './helpers/instance.ts';
import { clients, goClient, hostFingerprints, keysOfEveryType, libsshClient, type Client, type ClientKey } from './helpers/ssh-clients.ts';

describe('every common client logs in with every key type', () => {
  let inst: Instance;
  let keys: ClientKey[];
  let all: Record<string, Client>;
  before(async () => {
    inst = await startInstance({ users: ['alice'] });
    keys = await keysOfEveryType(inst);
    all = clients(inst, { libssh: libsshClient(), go: goClient() });
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
});
