/**
 * A bug inside a deploy (here: the checkout folder cannot be created) is not the pusher's doing:
 * the push is refused with `internal error (id …)`, the stack goes to the server log once under
 * that id, and nothing else changes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { remoteLines } from './helpers/deploy.ts';
import { assertFsckClean, makeWorkRepo, serverRef, startInstance, waitUntil, type Instance } from './helpers/instance.ts';

describe('a crash inside a deploy', () => {
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({ repos: { hello: 'branches:\n  main:\n    hooks: {build: ["true"]}\n' } });
    work = await makeWorkRepo(inst, 'work', 1);
    // A file where the deploy wants the repo's checkouts folder: mkdir fails with ENOTDIR.
    fs.mkdirSync(path.join(inst.dataDir, 'checkouts'), { recursive: true });
    fs.writeFileSync(path.join(inst.dataDir, 'checkouts', 'hello'), 'in the way\n');
  });
  after(() => inst.stop());

  test('is refused as internal error (id …) with the stack in the server log only, and the ref stays', async () => {
    const r = await inst.git(['push', `${inst.url}/hello`, 'main'], { cwd: work });
    assert.notEqual(r.code, 0);
    const id = /\(deploy failed: checkout internal error \(id ([0-9a-f]{8})\)\)/.exec(r.stderr)?.[1];
    assert.ok(id, r.stderr);
    assert.ok(remoteLines(r.stderr).some((l) => new RegExp(`^!----> Checkout failed: internal error \\(id ${id}\\) \\(\\d+\\.\\d+ s\\)$`).test(l)), r.stderr);
    assert.doesNotMatch(r.stderr, /ENOTDIR|\s+at .*\.(ts|js):\d+/, 'nothing of the bug reaches the pusher');
    const logged = await waitUntil('the internal error in the server log', () => inst.output.split('\n').find((l) => l.includes(`internal error id=${id}`)) ?? '', (l) => l !== '');
    assert.match(logged, /ERROR +slipway\.deploy: internal error id=[0-9a-f]{8} repo=hello branch=main release=r1 error=.*ENOTDIR.*\\n +at /);
    assert.equal(inst.output.split('\n').filter((l) => l.includes(`id=${id}`)).length, 1, 'the stack is logged once');
    assert.doesNotMatch(inst.output, /ERROR +slipway\.(gateway|ssh)/, 'the failed deploy was handled, not a second crash');
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), null);
    await assertFsckClean(inst, 'hello');
  });
});
