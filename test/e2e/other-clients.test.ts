/**
 * Pushes from git clients other than stock git: dulwich (python3-dulwich) and libgit2 (through
 * python3-pygit2, as GitKraken, nodegit and git2-rs use it). They keep their side of the channel
 * open after the pack and wait for report-status, so receive-pack must find the pack's end from
 * its header count, entries and trailer. A client that hangs up before report-status moves no ref.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { commitChange, gitEnv, makeWorkRepo, run, serverRef, startInstance, type Instance } from './helpers/instance.ts';

const PYTHON = '/usr/bin/python3';
const MODULES: Record<string, string> = { dulwich: 'python3-dulwich', pygit2: 'python3-pygit2' };

/** Installs the Python git libraries when root (apt-get), else fails naming the Debian packages. */
function requireModules(): void {
  const missing = () => Object.keys(MODULES).filter((m) => spawnSync(PYTHON, ['-c', `import ${m}`]).status !== 0);
  let absent = missing();
  if (absent.length && process.getuid?.() === 0) {
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...absent.map((m) => MODULES[m]!)], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    absent = missing();
  }
  if (absent.length) throw new Error(`these tests need ${absent.map((m) => MODULES[m]).join(' ')} (apt-get install -y ${absent.map((m) => MODULES[m]).join(' ')})`);
}
requireModules();

const DULWICH_PUSH = `
import sys
from dulwich import porcelain
porcelain.push(sys.argv[1], sys.argv[2], sys.argv[3], errstream=sys.stderr.buffer)
print("pushed")
`;

const PYGIT2_PUSH = `
import sys, pygit2
work, url, ref, key = sys.argv[1:5]
results = {}
class Callbacks(pygit2.RemoteCallbacks):
    def credentials(self, url, username, allowed):
        return pygit2.Keypair("paas", key + ".pub", key, "")
    def certificate_check(self, certificate, valid, host):
        return True
    def push_update_reference(self, refname, message):
        results[refname] = message
import uuid
remote = pygit2.Repository(work).remotes.create("r" + uuid.uuid4().hex, url)
remote.push([ref], callbacks=Callbacks())
print("status", results.get(ref.split(":")[-1]) or "ok")
`;

describe('pushes from dulwich and libgit2', () => {
  let inst: Instance;
  let work: string;
  const head = async () => (await run('git', ['rev-parse', 'HEAD'], { cwd: work, env: gitEnv(inst.home) })).stdout.trim();

  before(async () => {
    inst = await startInstance({ repos: { myapp: 'branches:\n  main: {}\n  staging: {}\n' } });
    work = await makeWorkRepo(inst, 'work', 3);
  });
  after(() => inst.stop());

  test('dulwich pushes a new branch and an update and is answered without closing its side', async () => {
    for (const round of ['first', 'second']) {
      if (round === 'second') await commitChange(work, inst, 'from dulwich again');
      const r = await run(PYTHON, ['-c', DULWICH_PUSH, work, `${inst.url}/myapp`, 'refs/heads/main:refs/heads/main'], {
        cwd: work,
        env: gitEnv(inst.home, { GIT_SSH_COMMAND: inst.sshCommand('alice') }),
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 0, `dulwich ${round} push: ${r.stderr}`);
      assert.match(r.stdout, /pushed/);
      assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), await head());
    }
    const fsck = await inst.serverGit('myapp', ['fsck', '--full', '--no-dangling']);
    assert.equal(fsck.code, 0, fsck.stderr);
  });

  test('libgit2 (pygit2) pushes a branch and is answered without closing its side', async () => {
    await commitChange(work, inst, 'from libgit2');
    const r = await run(PYTHON, ['-c', PYGIT2_PUSH, work, `${inst.url}/myapp`, 'refs/heads/main:refs/heads/staging', inst.keys.alice!], {
      cwd: work,
      env: gitEnv(inst.home),
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, `pygit2 push: ${r.stderr}`);
    assert.match(r.stdout, /status ok/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), await head());
    const fsck = await inst.serverGit('myapp', ['fsck', '--full', '--no-dangling']);
    assert.equal(fsck.code, 0, fsck.stderr);
  });

  test('libgit2 sees a refused ref as refused', async () => {
    const r = await run(PYTHON, ['-c', PYGIT2_PUSH, work, `${inst.url}/myapp`, 'refs/heads/main:refs/heads/unconfigured', inst.keys.alice!], {
      cwd: work,
      env: gitEnv(inst.home),
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /status branch 'unconfigured' is not configured/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/unconfigured'), null);
  });
});
