import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertFsckClean, commitChange, gitEnv, makeWorkRepo, run, serverRef, startInstance, type Instance } from './helpers/instance.ts';

describe('git clone and fetch from the built-in upload-pack', () => {
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({ repos: { myapp: 'branches:\n  main: {}\n  staging: {}\n' } });
    work = await makeWorkRepo(inst, 'work', 5);
    const env = gitEnv(inst.home);
    await run('git', ['tag', '-a', 'v1', '-m', 'first release'], { cwd: work, env });
    await run('git', ['branch', 'staging'], { cwd: work, env });
    await inst.git(['remote', 'add', 'origin', `${inst.url}/myapp`], { cwd: work });
    const r = await inst.git(['push', 'origin', 'main', 'staging', 'v1'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => inst.stop());

  const revParse = async (dir: string, rev: string) => (await run('git', ['rev-parse', rev], { cwd: dir, env: gitEnv(inst.home) })).stdout.trim();

  test('ls-remote lists HEAD, branches and peeled tags', async () => {
    const r = await inst.git(['ls-remote', `${inst.url}/myapp`]);
    assert.equal(r.code, 0, r.stderr);
    const main = await revParse(work, 'main');
    assert.match(r.stdout, new RegExp(`^${main}\\tHEAD$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${main}\\trefs/heads/main$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${await revParse(work, 'v1')}\\trefs/tags/v1$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${main}\\trefs/tags/v1\\^\\{\\}$`, 'm'));
  });

  test('a clone has every commit, the tag, checks out main and passes fsck', async () => {
    const dir = path.join(inst.root, 'clone-full');
    const r = await inst.git(['clone', `${inst.url}/myapp`, dir]);
    assert.equal(r.code, 0, r.stderr);
    const env = gitEnv(inst.home);
    assert.equal(await revParse(dir, 'HEAD'), await revParse(work, 'main'));
    assert.equal(await revParse(dir, 'v1'), await revParse(work, 'v1'));
    assert.equal((await run('git', ['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: dir, env })).stdout.trim(), 'main');
    const fsck = await run('git', ['fsck', '--full', '--strict'], { cwd: dir, env });
    assert.equal(fsck.code, 0, fsck.stderr);
    const count = await run('git', ['rev-list', '--count', '--all'], { cwd: dir, env });
    assert.equal(count.stdout.trim(), '5');
  });

  test('an incremental fetch brings only the new commits', async () => {
    const dir = path.join(inst.root, 'clone-fetch');
    assert.equal((await inst.git(['clone', '-q', `${inst.url}/myapp`, dir])).code, 0);
    await commitChange(work, inst, 'after clone 1');
    await commitChange(work, inst, 'after clone 2');
    assert.equal((await inst.git(['push', 'origin', 'main'], { cwd: work })).code, 0);
    const r = await inst.git(['fetch', 'origin'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await revParse(dir, 'origin/main'), await revParse(work, 'main'));
    // Only the new objects travel: two commits with their trees and the files they touched.
    // (Fewer than 100 objects are unpacked loose by git, so the loose count is what was sent.)
    const counted = await run('git', ['count-objects', '-v'], { cwd: dir, env: gitEnv(inst.home) });
    const loose = Number(/^count: (\d+)$/m.exec(counted.stdout)![1]);
    assert.ok(loose > 0 && loose < 20, `fetch sent ${loose} objects`);
    const fsck = await run('git', ['fsck', '--full', '--strict'], { cwd: dir, env: gitEnv(inst.home) });
    assert.equal(fsck.code, 0, fsck.stderr);
  });

  test('a shallow clone has exactly the requested depth and can deepen later', async () => {
    const dir = path.join(inst.root, 'clone-shallow');
    const r = await inst.git(['clone', '--depth', '1', `${inst.url}/myapp`, dir]);
    assert.equal(r.code, 0, r.stderr);
    const env = gitEnv(inst.home);
    assert.equal((await run('git', ['rev-list', '--count', 'HEAD'], { cwd: dir, env })).stdout.trim(), '1');
    assert.equal((await run('git', ['rev-parse', '--is-shallow-repository'], { cwd: dir, env })).stdout.trim(), 'true');
    const deeper = await inst.git(['fetch', '--deepen', '2'], { cwd: dir });
    assert.equal(deeper.code, 0, deeper.stderr);
    assert.equal((await run('git', ['rev-list', '--count', 'HEAD'], { cwd: dir, env })).stdout.trim(), '3');
    const full = await inst.git(['fetch', '--unshallow'], { cwd: dir });
    assert.equal(full.code, 0, full.stderr);
    assert.equal((await run('git', ['rev-parse', '--is-shallow-repository'], { cwd: dir, env })).stdout.trim(), 'false');
    const fsck = await run('git', ['fsck', '--full', '--strict'], { cwd: dir, env });
    assert.equal(fsck.code, 0, fsck.stderr);
  });

  test('a clone of a configured repo nobody pushed yet is empty but works', async () => {
    const empty = await startInstance({ repos: { fresh: 'branches:\n  main: {}\n' } });
    try {
      const dir = path.join(empty.root, 'clone-empty');
      const r = await empty.git(['clone', `${empty.url}/fresh`, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /empty repository/);
    } finally {
      await empty.stop();
    }
  });

  test('the server repo stays clean after all of it', async () => {
    await assertFsckClean(inst, 'myapp');
    assert.ok(await serverRef(inst, 'myapp', 'refs/heads/main'));
  });
});
