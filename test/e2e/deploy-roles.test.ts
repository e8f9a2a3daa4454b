/**
 * Each deploy command checks the user's role: read users see status and releases only, deploy
 * users operate their own repos, cleanup is for admins. Refusals are one line and change nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, branchState, checkoutsOf, commitApp, newMarker, parseSummary, portRange, releases, status, stopAll, waitForAnswer } from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, type Instance, type RunResult } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

const branchYml = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
    env: {SLIPWAY_TEST_ID: ${marker}}
    custom_cmds: {ok: "echo ok from $SLIPWAY_RELEASE"}
`;

const OPERATIONS = (repo: string): string[][] => [
  ['rollback', repo, 'main'],
  ['restart', repo, 'main'],
  ['rebuild', repo, 'main'],
  ['custom_cmds', repo, 'main', 'ok'],
];

function assertOneLineRefusal(r: RunResult, re: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: not refused with exit 1:\n${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: refused but printed:\n${r.stdout}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: refusal is not one line:\n${r.stderr}`);
  assert.match(lines[0]!, re, what);
}

describe('roles on the deploy commands', () => {
  let inst: Instance;
  let work: string;
  const commits: Record<string, string> = {};

  /** What must not change when a command is refused. */
  async function snapshot(repo: string) {
    const st = await status(inst, 'alice', repo, 'main');
    return { ref: await serverRef(inst, repo, 'refs/heads/main'), current: branchState(inst, repo, 'main').current, seq: branchState(inst, repo, 'main').seq, pids: st.processes.map((p) => p.pid) };
  }

  before(async () => {
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nusers:\n  alice: admin\n  ci: {deploy: [hello]}\n  intern: {read: [hello]}\n`,
      repos: { hello: branchYml, other: branchYml },
      users: ['alice', 'ci', 'intern'],
    });
    work = path.join(tempDir(), 'work');
    commits.v1 = await commitApp(work, inst, 'v1');
    for (const repo of ['hello', 'other']) {
      const r = await inst.git(['push', `${inst.url}/${repo}`, 'main'], { cwd: work, user: 'alice' });
      assert.equal(r.code, 0, r.stderr);
    }
    commits.v2 = await commitApp(work, inst, 'v2');
    const r = await inst.git(['push', `${inst.url}/hello`, 'main'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => stopAll(inst, marker));

  test('a read user sees status and releases of its repo, and nothing of other repos', async () => {
    const st = await inst.ssh('intern', ['status']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^hello\/main: r2 /m);
    assert.doesNotMatch(st.stdout, /other/);
    const rel = await releases(inst, 'intern', 'hello', 'main');
    assert.deepEqual(rel.list.map((x) => `${x.current ? '*' : ' '}${x.id}`), ['*r2', ' r1']);
    assertOneLineRefusal(await inst.ssh('intern', ['releases', 'other', 'main']), /^repository 'other' not found$/, 'intern: releases other');
    assertOneLineRefusal(await inst.ssh('intern', ['status', 'other']), /^repository 'other' not found$/, 'intern: status other');
  });

  test('a read user is refused rollback, restart, rebuild, custom_cmds and cleanup with one line each, and nothing changes', async () => {
    const before_ = await snapshot('hello');
    for (const argv of OPERATIONS('hello')) {
      assertOneLineRefusal(await inst.ssh('intern', argv), /^permission denied: intern may not operate hello$/, `intern: ${argv.join(' ')}`);
    }
    assertOneLineRefusal(await inst.ssh('intern', ['cleanup']), /^permission denied: intern may not run admin commands$/, 'intern: cleanup');
    assert.deepEqual(await snapshot('hello'), before_);
  });

  test('a deploy user restarts, rebuilds, runs custom commands and rolls back its own repo', async () => {
    let r = await inst.ssh('ci', ['restart', 'hello', 'main']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello\/main: restarted 1 process of r2/);

    r = await inst.ssh('ci', ['rebuild', 'hello', 'main']);
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stdout);
    const a = await ask(s.runners.web!.ports[0]!);
    assert.equal(a.commit, commits.v2);
    assert.equal(a.release, 'r3');
    const rel = await releases(inst, 'ci', 'hello', 'main');
    assert.equal(rel.current, 'r3');
    assert.match(rel.text, /^\* r3 +rebuild: version v2 +by ci /m, 'the rebuild is recorded as ci’s');

    r = await inst.ssh('ci', ['custom_cmds', 'hello', 'main', 'ok']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok from r3/);

    r = await inst.ssh('ci', ['rollback', 'hello', 'main', 'r1']);
    assert.equal(r.code, 0, r.stderr);
    const back = parseSummary(r.stdout);
    await waitForAnswer(back.runners.web!.ports[0]!, (x) => x.commit === commits.v1);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v1);
    const afterRollback = await releases(inst, 'ci', 'hello', 'main');
    assert.equal(afterRollback.current, 'r4');
    assert.match(afterRollback.text, /^\* r4 +rollback to r1 +by ci /m);
    await assertFsckClean(inst, 'hello');
  });

  test('a deploy user is refused every operation on another repo and cleanup, with one line each, and nothing changes', async () => {
    const before_ = await snapshot('other');
    for (const argv of OPERATIONS('other')) {
      assertOneLineRefusal(await inst.ssh('ci', argv), /^repository 'other' not found$/, `ci: ${argv.join(' ')}`);
    }
    assertOneLineRefusal(await inst.ssh('ci', ['status', 'other', 'main']), /^repository 'other' not found$/, 'ci: status other');
    assertOneLineRefusal(await inst.ssh('ci', ['cleanup']), /^permission denied: ci may not run admin commands$/, 'ci: cleanup');
    assert.deepEqual(await snapshot('other'), before_);
  });

  test('restart without arguments restarts only the branches the user may operate', async () => {
    const other = await snapshot('other');
    const r = await inst.ssh('ci', ['restart']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello\/main: restarted/);
    assert.doesNotMatch(r.stdout, /other/);
    assert.deepEqual(await snapshot('other'), other);
  });

  test('an admin operates any repo and runs cleanup, which removes only checkouts no release keeps', async () => {
    const r = await inst.ssh('alice', ['restart', 'other', 'main']);
    assert.equal(r.code, 0, r.stderr);
    const stray = path.join(inst.dataDir, 'checkouts', 'hello', 'main', 'r99-000000000000');
    fs.mkdirSync(stray, { recursive: true });
    const kept = checkoutsOf(inst, 'hello', 'main').filter((d) => !d.startsWith('r99-'));
    const c = await inst.ssh('alice', ['cleanup']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /removed checkouts\/hello\/main\/r99-000000000000/);
    assert.ok(!fs.existsSync(stray));
    assert.deepEqual(checkoutsOf(inst, 'hello', 'main'), kept);
    const again = await inst.ssh('alice', ['cleanup']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to clean up/);
    assert.equal((await ask((await status(inst, 'alice', 'hello', 'main')).processes[0]!.port!)).commit, commits.v1, 'cleanup leaves what runs alone');
  });
});
