/**
 * Who may do what, through the real `git` and `ssh` clients: admin, deploy and read roles, keys of
 * users the config does not list, keys nobody configured, and the pyPaaS default (no `users`: every
 * key is an admin).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertFsckClean, commitChange, gitEnv, makeWorkRepo, run, serverRef, startInstance, type Instance } from './helpers/instance.ts';

const USERS_YML = `users:
  alice: admin
  ci: {deploy: [myapp]}
  intern: {read: [myapp]}
`;

const REPOS = {
  myapp: 'branches:\n  main: {}\n  staging: {}\n',
  other: 'branches:\n  main: {}\n',
};

/** Runs a plain local git command in `cwd` (no ssh involved). */
async function localGit(inst: Instance, cwd: string, args: string[]): Promise<string> {
  const r = await run('git', args, { cwd, env: gitEnv(inst.home) });
  assert.equal(r.code, 0, `git ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout.trim();
}

/** The `fatal: remote error: …` line of a refused git request, with the repo name made generic. */
function remoteErrorLine(stderr: string, repo: string): string {
  const line = stderr.split('\n').find((l) => l.includes('remote error'));
  assert.ok(line, `no 'remote error' line in:\n${stderr}`);
  return line.replaceAll(repo, 'X');
}

describe('roles: admin, deploy and read users', () => {
  let inst: Instance;
  let work: string;
  const url = (repo: string) => `${inst.url}/${repo}`;

  before(async () => {
    inst = await startInstance({ slipwayYml: USERS_YML, repos: REPOS, users: ['alice', 'ci', 'intern', 'bob'], strangers: ['mallory'] });
    work = await makeWorkRepo(inst, 'work', 2);
  });
  after(() => inst.stop());

  test('an admin pushes branches, pushes a tag and deletes a branch', async () => {
    const main = await localGit(inst, work, ['rev-parse', 'HEAD']);
    let r = await inst.git(['push', url('myapp'), 'main', 'main:staging'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), main);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), main);
    await assertFsckClean(inst, 'myapp');

    await localGit(inst, work, ['tag', '-a', 'v-admin', '-m', 'release by admin']);
    r = await inst.git(['push', url('myapp'), 'refs/tags/v-admin'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v-admin^{commit}'), main);
    await assertFsckClean(inst, 'myapp');

    r = await inst.git(['push', url('myapp'), '--delete', 'staging'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), null);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), main);
    await assertFsckClean(inst, 'myapp');
  });

  test('a deploy user pushes main and a tag', async () => {
    const next = await commitChange(work, inst, 'ci change');
    let r = await inst.git(['push', url('myapp'), 'main'], { cwd: work, user: 'ci' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), next);
    await assertFsckClean(inst, 'myapp');

    await localGit(inst, work, ['tag', '-a', 'v-ci', '-m', 'release by ci']);
    r = await inst.git(['push', url('myapp'), 'refs/tags/v-ci'], { cwd: work, user: 'ci' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v-ci^{commit}'), next);
    await assertFsckClean(inst, 'myapp');
  });

  test('a deploy user may not delete a branch: the push is refused with permission denied and the ref stays', async () => {
    const main = await localGit(inst, work, ['rev-parse', 'HEAD']);
    let r = await inst.git(['push', url('myapp'), 'main:staging'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), main);

    r = await inst.git(['push', url('myapp'), '--delete', 'staging'], { cwd: work, user: 'ci' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\[remote rejected\] +staging \(permission denied: ci may not delete refs of myapp\)/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), main);
    await assertFsckClean(inst, 'myapp');
  });

  test('a push to an unconfigured branch is refused and the ref does not exist', async () => {
    const before = await serverRef(inst, 'myapp', 'refs/heads/main');
    for (const user of ['alice', 'ci']) {
      const r = await inst.git(['push', url('myapp'), 'main:dev'], { cwd: work, user });
      assert.notEqual(r.code, 0, `${user}: ${r.stderr}`);
      assert.ok(
        r.stderr.includes("branch 'dev' is not configured for repo 'myapp' (configured: main, staging)"),
        `${user}: refusal text missing in:\n${r.stderr}`,
      );
      assert.equal(await serverRef(inst, 'myapp', 'refs/heads/dev'), null);
      assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), before);
      await assertFsckClean(inst, 'myapp');
    }
  });

  test('a read user clones and fetches', async () => {
    const dir = path.join(inst.root, 'intern-clone');
    let r = await inst.git(['clone', '-q', url('myapp'), dir], { user: 'intern' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await localGit(inst, dir, ['rev-parse', 'HEAD']), await serverRef(inst, 'myapp', 'refs/heads/main'));

    const next = await commitChange(work, inst, 'for intern to fetch');
    r = await inst.git(['push', url('myapp'), 'main'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    await assertFsckClean(inst, 'myapp');
    r = await inst.git(['fetch', '-q', 'origin'], { cwd: dir, user: 'intern' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await localGit(inst, dir, ['rev-parse', 'origin/main']), next);
    assert.equal((await run('git', ['fsck', '--full', '--strict'], { cwd: dir, env: gitEnv(inst.home) })).code, 0);
  });

  test('a read user cannot push: a clear message and the refs stay', async () => {
    const dir = path.join(inst.root, 'intern-clone');
    const refsBefore = (await inst.serverGit('myapp', ['show-ref'])).stdout;
    await commitChange(dir, inst, 'intern tries to push');
    await localGit(inst, dir, ['tag', 'v-intern']);
    for (const refspec of ['main', 'refs/tags/v-intern']) {
      const r = await inst.git(['push', 'origin', refspec], { cwd: dir, user: 'intern' });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /remote error: permission denied: intern may not push to myapp$/m);
    }
    assert.equal((await inst.serverGit('myapp', ['show-ref'])).stdout, refsBefore);
    await assertFsckClean(inst, 'myapp');
  });

  test('a repo the user may not read is reported exactly like a missing one', async () => {
    for (const user of ['ci', 'intern']) {
      for (const service of ['clone', 'push'] as const) {
        const attempt = (repo: string) =>
          service === 'clone'
            ? inst.git(['clone', '-q', url(repo), path.join(inst.root, `${user}-${repo}-${Math.random().toString(36).slice(2)}`)], { user })
            : inst.git(['push', url(repo), 'main'], { cwd: work, user });
        const hidden = await attempt('other');
        const missing = await attempt('missing');
        assert.notEqual(hidden.code, 0);
        assert.equal(hidden.code, missing.code);
        assert.match(hidden.stderr, /remote error: repository 'other' not found/);
        assert.equal(remoteErrorLine(hidden.stderr, 'other'), remoteErrorLine(missing.stderr, 'missing'), `${user} ${service}`);
      }
    }
    // The admin sees it (an empty repo).
    const r = await inst.git(['clone', url('other'), path.join(inst.root, 'admin-other')], { user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /empty repository/);
  });

  test('whoami prints the user and role of each key', async () => {
    const expected: Record<string, RegExp> = {
      alice: /^user: alice\nrole: admin\n/,
      ci: /^user: ci\nrole: deploy: myapp\n/,
      intern: /^user: intern\nrole: read: myapp\n/,
    };
    for (const [user, re] of Object.entries(expected)) {
      const r = await inst.ssh(user, ['whoami']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, re);
    }
    assert.match((await inst.ssh('alice', ['whoami'])).stdout, /^repos: myapp, other$/m);
    assert.match((await inst.ssh('intern', ['whoami'])).stdout, /^repos: myapp$/m);
  });

  test('with a pty (ssh -t) command output ends lines with CR LF, so a raw terminal does not staircase', async () => {
    const withPty = await inst.ssh('alice', ['whoami'], ['-tt']);
    assert.equal(withPty.code, 0, withPty.stderr);
    assert.match(withPty.stdout, /^user: alice\r\nrole: admin\r\n/);
    const plain = await inst.ssh('alice', ['whoami']);
    assert.doesNotMatch(plain.stdout, /\r/);
  });

  test('a key on disk but in no config, and a key of a user not in users, cannot log in', async () => {
    for (const user of ['mallory', 'bob']) {
      const r = await inst.ssh(user, ['whoami']);
      assert.equal(r.code, 255, `${user}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /Permission denied \(publickey\)/);
      assert.equal(r.stdout, '');
      const g = await inst.git(['ls-remote', url('myapp')], { user });
      assert.notEqual(g.code, 0);
      assert.match(g.stderr, /Permission denied \(publickey\)/);
    }
  });
});

describe('roles: without a users section', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: ['alice', 'bob'] });
  });
  after(() => inst.stop());

  test('every key is an admin: it pushes, tags and deletes branches', async () => {
    const r0 = await inst.ssh('bob', ['whoami']);
    assert.equal(r0.code, 0, r0.stderr);
    assert.match(r0.stdout, /^user: bob\nrole: admin\n/);
    assert.match((await inst.ssh('alice', ['whoami'])).stdout, /^user: alice\nrole: admin\n/);

    const work = await makeWorkRepo(inst, 'work', 1);
    const url = `${inst.url}/myapp`;
    const head = await localGit(inst, work, ['rev-parse', 'HEAD']);
    let r = await inst.git(['push', url, 'main', 'main:staging'], { cwd: work, user: 'bob' });
    assert.equal(r.code, 0, r.stderr);
    await assertFsckClean(inst, 'myapp');
    await localGit(inst, work, ['tag', '-a', 'v1', '-m', 'v1']);
    r = await inst.git(['push', url, 'refs/tags/v1'], { cwd: work, user: 'bob' });
    assert.equal(r.code, 0, r.stderr);
    await assertFsckClean(inst, 'myapp');
    r = await inst.git(['push', url, '--delete', 'staging'], { cwd: work, user: 'bob' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), head);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), null);
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v1^{commit}'), head);
    await assertFsckClean(inst, 'myapp');
  });
});
