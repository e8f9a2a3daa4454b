/**
 * An atomic push that deploys two branches: when the second deploy fails, the first one is taken
 * back, so no ref moves and each branch runs what its ref names.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, branchState, commitApp, newMarker, portRange, status, stopAll } from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();
const branch = `    runners:
      web: {type: NginxBackend, cmd: node server.js}
    hooks: {build: sh build.sh}
    env: {SLIPWAY_TEST_ID: ${marker}}
`;

describe('atomic pushes that deploy several branches', () => {
  let inst: Instance;
  let work: string;
  const url = () => `${inst.url}/hello`;

  before(async () => {
    inst = await startInstance({ slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n`, repos: { hello: `branches:\n  a:\n${branch}  b:\n${branch}` } });
    work = path.join(tempDir(), 'work');
  });
  after(() => stopAll(inst, marker));

  test('when one deploy of an atomic push fails, the other is taken back and no ref moves', async () => {
    const v1 = await commitApp(work, inst, 'v1');
    const first = await inst.git(['push', url(), 'main:a', 'main:b'], { cwd: work });
    assert.equal(first.code, 0, first.stderr);

    const good = await commitApp(work, inst, 'v2');
    await commitApp(work, inst, 'v3', { buildFail: true });
    const r = await inst.git(['push', '--atomic', url(), `${good}:refs/heads/a`, 'HEAD:refs/heads/b'], { cwd: work });
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[remote rejected\] HEAD -> b \(deploy failed: build exited 3\)/);
    assert.match(r.stderr, /atomic push failed: taking back release r2 of hello\/a/);

    assert.equal(await serverRef(inst, 'hello', 'refs/heads/a'), v1);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/b'), v1);
    const a = branchState(inst, 'hello', 'a');
    assert.equal(a.current, 'r1');
    assert.deepEqual(a.releases.map((x) => x.id), ['r1']);
    const st = await status(inst, 'alice', 'hello', 'a');
    assert.equal(st.processes.length, 1);
    const answer = await ask(st.processes[0]!.port!);
    assert.equal(answer.commit, v1);
    assert.equal(answer.version, 'v1');
    await assertFsckClean(inst, 'hello');
  });
});
