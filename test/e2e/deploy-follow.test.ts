/**
 * `logs <repo> <branch> --deploy -f` over the real OpenSSH client: an operator follows the deploy
 * someone's `git push` is running, sees its build output as it is written, and the follower ends
 * with the deploy (exit 0, or 1 with the reason when it failed). Without a deploy in progress it
 * prints the finished log and its outcome. The build waits on a gate file the test controls.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, gateFile, gitLive, newMarker, portRange, remoteLines, sshLive, stopAll, type LiveSsh } from './helpers/deploy.ts';
import { startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

const REPO = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
    env: {SLIPWAY_TEST_ID: ${marker}, GATE: gate-main}
    hooks: {build: ["sh build.sh"]}
`;

describe('logs --deploy -f: following a deploy in progress', () => {
  let inst: Instance;
  let work: string;
  const followers: LiveSsh[] = [];
  const gate = () => gateFile(inst, 'hello', 'gate-main');
  const push = () => gitLive(inst, ['push', `${inst.url}/hello`, 'main'], { cwd: work });
  const follow = (...args: string[]) => {
    const f = sshLive(inst, 'reader', ['logs', 'hello', 'main', '--deploy', ...args]);
    followers.push(f);
    return f;
  };

  before(async () => {
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nusers:\n  alice: admin\n  reader: {read: [hello]}\n`,
      repos: { hello: REPO },
      users: ['alice', 'reader'],
    });
    work = path.join(tempDir(), 'work');
    await commitApp(work, inst, 'v1');
    const r = await push().done;
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    for (const f of followers) f.kill();
    await stopAll(inst, marker);
  });

  test('a follower sees the running build live, then the rest of the deploy, and exits 0 when it succeeds', async () => {
    fs.writeFileSync(gate(), '');
    await commitApp(work, inst, 'v2');
    const pushing = push();
    await pushing.waitOutput(/building version v2/);

    const f = follow('-f');
    await f.wait(/^ +building version v2$/m);
    assert.equal(f.child.exitCode, null, 'the follower waits while the build does');
    assert.doesNotMatch(f.output(), /build done/);

    fs.rmSync(gate());
    const followed = await f.done;
    assert.equal(followed.code, 0, followed.stderr);
    assert.equal(followed.stderr, '');
    assert.match(followed.stdout, /^-----> Checkout [0-9a-f]{12} of hello\/main as release r2$/m);
    assert.match(followed.stdout, /^ +build done$/m);
    assert.match(followed.stdout, /^-----> Start /m);
    assert.match(followed.stdout, /^hello\/main [0-9a-f]{8}: web 1\/1 on ports? \d+/m);

    const pushed = await pushing.done;
    assert.equal(pushed.code, 0, pushed.stderr);
    // What the follower saw is the whole deploy log, and the same lines the pusher saw.
    const log = await inst.ssh('reader', ['logs', 'hello', 'main', '--deploy', 'r2']);
    assert.equal(followed.stdout, log.stdout);
    const pusherLines = remoteLines(pushed.stderr).filter((l) => /building version|build done|-----> /.test(l));
    assert.deepEqual(pusherLines, followed.stdout.split('\n').filter((l) => /building version|build done|-----> /.test(l)));
  });

  test('a follower of a deploy that fails exits 1 with the reason on one line; afterwards -f prints that log and exits 1 too', async () => {
    fs.writeFileSync(gate(), '');
    await commitApp(work, inst, 'v3', { buildFail: true });
    const pushing = push();
    await pushing.waitOutput(/building version v3/);
    const f = follow('-f');
    await f.wait(/^ +building version v3$/m);
    fs.rmSync(gate());

    const followed = await f.done;
    assert.equal(followed.code, 1);
    assert.equal(followed.stderr, 'deploy r3 of hello/main failed: build exited 3\n');
    assert.match(followed.stdout, /^ +compile error: something broke$/m);
    assert.match(followed.stdout, /^! deploy failed: build exited 3; release r2 keeps running$/m);
    assert.notEqual((await pushing.done).code, 0);

    const after = await inst.ssh('reader', ['logs', 'hello', 'main', '--deploy', '-f']);
    assert.equal(after.code, 1);
    assert.equal(after.stderr, 'deploy r3 of hello/main failed: build exited 3\n');
    assert.equal(after.stdout, followed.stdout);
    const older = await inst.ssh('reader', ['logs', 'hello', 'main', '--deploy', 'r2', '-f']);
    assert.equal(older.code, 0, older.stderr);
    assert.match(older.stdout, /as release r2$/m);
  });

  test('a follower that disconnects leaves the deploy alone', async () => {
    fs.writeFileSync(gate(), '');
    await commitApp(work, inst, 'v4');
    const pushing = push();
    await pushing.waitOutput(/building version v4/);
    const f = follow('-f');
    await f.wait(/^ +building version v4$/m);
    f.kill();
    await f.done;
    fs.rmSync(gate());
    const pushed = await pushing.done;
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stderr, /hello\/main [0-9a-f]{8}: web 1\/1/);
  });
});
