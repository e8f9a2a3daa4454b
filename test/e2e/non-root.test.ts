/**
 * A gateway run as an ordinary user cannot give repos users of their own: it says so at start,
 * refuses a config that would make a deploy role a shell as itself (unless `isolation: none`
 * accepts that), and otherwise deploys as before, as its own user. CI runs as root, so the
 * gateway is started here as `nobody`.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { commitApp, newMarker, parseSummary, portRange, remoteLines, stopAll, ask } from './helpers/deploy.ts';
import { startInstance, tempDir, type Instance } from './helpers/instance.ts';

const NOBODY = 65534;
const USERS = 'users:\n  alice: admin\n  ci: {deploy: [app]}\n';

describe('a gateway that is not root', { skip: process.getuid?.() !== 0 && !process.env.CI && 'starts the gateway as nobody, which needs root (CI runs as root)' }, () => {
  const marker = newMarker();
  const ports = portRange();
  const app = `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n    hooks: {build: "echo build runs as $(id -un)"}\n`;
  let inst: Instance | undefined;
  after(() => stopAll(inst, marker));

  test('refuses at start a users section that gives anyone deploy, saying why and what to do', async () => {
    await assert.rejects(
      startInstance({ asUid: NOBODY, users: ['alice', 'ci'], slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n${USERS}`, repos: { app } }),
      (err: Error) => {
        assert.match(err.message, /slipway exited with 1 before listening/);
        assert.match(err.message, /slipway\.yml: users\.ci: a deploy role would be a shell as nobody: slipway is not root, so the code ci pushes to app cannot run as a user of its own \(expected: run slipway as root, or isolation: none to accept this\)/);
        assert.doesNotMatch(err.message, /\s+at .*\.(ts|js):\d+/, 'no stack trace');
        return true;
      },
    );
  });

  test('refuses isolation: user, which it cannot give', async () => {
    await assert.rejects(startInstance({ asUid: NOBODY, slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nisolation: user\n`, repos: { app } }), /slipway\.yml: isolation: 'user' needs slipway to run as root \(it runs as nobody/);
  });

  test('with isolation: none it says at start that it cannot isolate, and deploys as its own user', async () => {
    inst = await startInstance({ asUid: NOBODY, users: ['alice', 'ci'], slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nisolation: none\n${USERS}`, repos: { app } });
    assert.match(inst.output, /slipway runs as nobody, not root: it cannot isolate apps; builds, apps and custom commands run as nobody/);
    const work = path.join(tempDir(), 'work');
    await commitApp(work, inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work, user: 'ci' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(remoteLines(r.stderr).some((l) => l.trim() === 'build runs as nobody'), r.stderr);
    const a = await ask(parseSummary(r.stderr).runners.web!.ports[0]!);
    assert.equal(a.release, 'r1');
  });
});
