/**
 * git's D/F rule over the wire: `refs/tags/v1` and `refs/tags/v1/rc` cannot both exist. Stock git
 * pushes each conflict; the server refuses it in git's words, keeps the other refs of the push,
 * and the repo passes native `git fsck`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertFsckClean, makeWorkRepo, serverRef, startInstance, type Instance } from './helpers/instance.ts';

describe('ref name conflicts (D/F)', () => {
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({ repos: { myapp: 'branches:\n  main: {}\n' } });
    work = await makeWorkRepo(inst, 'work', 2);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main', 'HEAD~1:refs/tags/v1', 'HEAD:refs/tags/v2/rc'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => inst.stop());

  test('a ref below or above an existing one is refused in git\'s words; the rest of the push lands', async () => {
    const r = await inst.git(['push', `${inst.url}/myapp`, 'HEAD:refs/tags/v1/rc', 'HEAD:refs/tags/v2', 'HEAD:refs/tags/v3'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /! \[remote rejected\] HEAD -> v1\/rc \('refs\/tags\/v1' exists; cannot create 'refs\/tags\/v1\/rc'\)/);
    assert.match(r.stderr, /! \[remote rejected\] HEAD -> v2 \('refs\/tags\/v2\/rc' exists; cannot create 'refs\/tags\/v2'\)/);
    assert.match(r.stderr, /\* \[new tag\] +HEAD -> v3/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v1/rc'), null);
    assert.ok(await serverRef(inst, 'myapp', 'refs/tags/v3'));
    await assertFsckClean(inst, 'myapp');
  });

  test('two refs of one push that conflict: the second is refused', async () => {
    const r = await inst.git(['push', `${inst.url}/myapp`, 'HEAD:refs/tags/w', 'HEAD~1:refs/tags/w/x'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /! \[remote rejected\] HEAD~1 -> w\/x \(cannot process 'refs\/tags\/w\/x' and 'refs\/tags\/w' at the same time\)/);
    assert.ok(await serverRef(inst, 'myapp', 'refs/tags/w'));
    await assertFsckClean(inst, 'myapp');
  });
});
