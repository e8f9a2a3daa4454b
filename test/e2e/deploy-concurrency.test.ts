/**
 * Deploys that overlap: a second push to a deploying branch, two branches at once, a pusher that
 * disconnects, a config reload mid-deploy, and pyPaaS's maintenance order (stop old, run the
 * hook, start new) with the old release brought back when the hook fails. Build hooks wait on a
 * gate file the test controls, so nothing depends on timing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  appProcesses,
  ask,
  branchState,
  checkoutsOf,
  commitApp,
  gitLive,
  newMarker,
  parseSummary,
  portRange,
  reloadConfig,
  remoteLines,
  status,
  stopAll,
  waitFor,
  gateFile,
} from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();
let inst: Instance;
const gate = (branch: string) => gateFile(inst, 'hello', `gate-${branch}`);

const branch = (name: string, extra = '') => `  ${name}:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
    env: {SLIPWAY_TEST_ID: ${marker}, GATE: gate-${name}}
    hooks: {build: ["sh build.sh"]${extra}}
`;
const REPO = `branches:\n${branch('main')}${branch('staging')}${branch('maint', ', maintenance: ["sh maint.sh"]')}`;

describe('overlapping deploys, disconnects and the maintenance order', () => {
  let work: string;
  let v1: string;
  const url = () => `${inst.url}/hello`;

  /** The commit the branch's web.0 serves, found through status. */
  async function serving(b: string): Promise<{ commit: string; version: string; release: string }> {
    const st = await status(inst, 'alice', 'hello', b);
    const web = st.processes.find((p) => p.runner === 'web' && p.index === 0);
    assert.ok(web?.port, `no web process in status of ${b}:\n${st.processes.map((p) => p.line).join('\n')}`);
    return ask(web.port);
  }

  before(async () => {
    inst = await startInstance({ slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n`, repos: { hello: REPO } });
    work = path.join(tempDir(), 'work');
    v1 = await commitApp(work, inst, 'v1');
    for (const b of ['main', 'staging', 'maint']) {
      const r = await inst.git(['push', url(), `main:${b}`], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await serverRef(inst, 'hello', `refs/heads/${b}`), v1);
    }
  });
  after(() => stopAll(inst, marker));

  test('a second push to a branch that is deploying is refused naming who started it; the first deploy finishes', async () => {
    fs.writeFileSync(gate('main'), '');
    const first = await commitApp(work, inst, 'v2');
    const a = gitLive(inst, ['push', url(), 'main'], { cwd: work });
    await a.waitOutput(/-----> Build/);
    const second = await commitApp(work, inst, 'v3');
    const b = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /! \[remote rejected\] main -> main \(deploy of hello\/main in progress \(started by alice \d+ s ago\)\)/);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), v1, 'the ref has not moved yet');

    fs.rmSync(gate('main'));
    const ra = await a.done;
    assert.equal(ra.code, 0, ra.stderr);
    const s = parseSummary(ra.stderr);
    assert.equal((await ask(s.runners.web!.ports[0]!)).commit, first);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), first);

    const again = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await ask(parseSummary(again.stderr).runners.web!.ports[0]!)).commit, second);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), second);
    await assertFsckClean(inst, 'hello');
  });

  test('different branches deploy in parallel: staging deploys while main is still building', async () => {
    fs.writeFileSync(gate('main'), '');
    const c = await commitApp(work, inst, 'v4');
    const a = gitLive(inst, ['push', url(), 'main'], { cwd: work });
    await a.waitOutput(/-----> Build/);
    const b = await inst.git(['push', url(), 'main:staging'], { cwd: work });
    assert.equal(b.code, 0, b.stderr);
    const s = parseSummary(b.stderr);
    assert.equal(s.branch, 'staging');
    assert.equal((await ask(s.runners.web!.ports[0]!)).commit, c);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/staging'), c);
    assert.equal(a.child.exitCode, null, 'main is still deploying');
    assert.notEqual(branchState(inst, 'hello', 'main').pending, null);

    fs.rmSync(gate('main'));
    const ra = await a.done;
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal((await ask(parseSummary(ra.stderr).runners.web!.ports[0]!)).commit, c);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), c);
    await assertFsckClean(inst, 'hello');
  });

  test('a pusher that disconnects mid-deploy moves no ref: the deploy is taken back and the ref names the commit that runs', async () => {
    const old = await serverRef(inst, 'hello', 'refs/heads/main');
    fs.writeFileSync(gate('main'), '');
    const c = await commitApp(work, inst, 'v5');
    const a = gitLive(inst, ['push', url(), 'main'], { cwd: work });
    await a.waitOutput(/-----> Build/);
    a.disconnect();
    await a.done;
    fs.rmSync(gate('main'));

    const ref = await waitFor(async () => {
      const st = branchState(inst, 'hello', 'main');
      const cur = st.releases.find((r) => r.id === st.current);
      const r = await serverRef(inst, 'hello', 'refs/heads/main');
      const s = await status(inst, 'alice', 'hello', 'main');
      const settled = st.pending === null && cur && r === cur.commit && s.processes.length === 1 && s.processes.every((p) => p.release === st.current && p.state === 'running');
      return settled ? r : null;
    }, 30_000, 'the deploy to finish or roll back');
    assert.notEqual(c, old);
    assert.equal(ref, old, 'a push whose client never saw report-status moved its ref');
    assert.equal((await serving('main')).commit, ref, 'the ref matches what runs');
    await assertFsckClean(inst, 'hello');
  });

  test('with hooks.maintenance the old release stops before the hook runs and the new one starts after it', async () => {
    const c = await commitApp(work, inst, 'v-maint-ok');
    const r = await inst.git(['push', url(), 'main:maint'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const lines = remoteLines(r.stderr);
    const headings = lines.filter((l) => l.startsWith('-----> ')).map((l) => l.slice(7).split(' ')[0]);
    assert.deepEqual(headings, ['Checkout', 'Build', 'Maintenance', 'Start', 'Switch'], lines.join('\n'));
    assert.ok(lines.some((l) => /^-----> Maintenance stopping release r1$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.trim() === 'migrated'));
    assert.equal((await serving('maint')).commit, c);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/maint'), c);
  });

  test('a failing maintenance hook rejects the push and brings the old release back; the ref stays', async () => {
    const old = await serverRef(inst, 'hello', 'refs/heads/maint');
    const oldRelease = branchState(inst, 'hello', 'maint').current;
    await commitApp(work, inst, 'v-maint-bad', { maintFail: true });
    const r = await inst.git(['push', url(), 'main:maint'], { cwd: work });
    assert.notEqual(r.code, 0);
    const lines = remoteLines(r.stderr);
    assert.ok(lines.some((l) => /^!----> Maintenance failed: maintenance exited 3 \(\d+\.\d+ s\)$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\s+migration failed$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l === `-----> Restore release ${oldRelease}`), lines.join('\n'));
    assert.ok(r.stderr.includes('! [remote rejected] main -> maint (deploy failed: maintenance exited 3)'), r.stderr);

    assert.equal(await serverRef(inst, 'hello', 'refs/heads/maint'), old);
    const a = await serving('maint');
    assert.equal(a.commit, old);
    assert.equal(a.version, 'v-maint-ok');
    assert.equal(a.release, oldRelease);
    const st = await status(inst, 'alice', 'hello', 'maint');
    assert.ok(st.processes.length === 1 && st.processes[0]!.state === 'running', st.processes.map((p) => p.line).join('\n'));
    assert.equal(branchState(inst, 'hello', 'maint').pending, null);
    await assertFsckClean(inst, 'hello');
  });

  test('a config reload (SIGHUP) during a deploy does not disturb it', async () => {
    fs.writeFileSync(gate('main'), '');
    const c = await commitApp(work, inst, 'v6');
    const a = gitLive(inst, ['push', url(), 'main'], { cwd: work });
    await a.waitOutput(/-----> Build/);
    const pending = branchState(inst, 'hello', 'main').pending!;
    await reloadConfig(inst);
    const checkoutKept = fs.existsSync(pending.checkout);
    fs.rmSync(gate('main'));
    const r = await a.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(checkoutKept, 'the reload removed the checkout of the deploy under way');
    assert.equal((await ask(parseSummary(r.stderr).runners.web!.ports[0]!)).commit, c);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), c);
    assert.ok(checkoutsOf(inst, 'hello', 'main').some((d) => d.startsWith(`${pending.id}-`)));
    assert.deepEqual(appProcesses(marker).filter((p) => p.cmdline.includes('build.sh')), []);
    await assertFsckClean(inst, 'hello');
  });
});
