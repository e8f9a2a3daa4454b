/**
 * Apps outlive the gateway: a stopped gateway leaves them serving and logging, the next start
 * adopts them; a gateway killed with -9 in the middle of a deploy leaves the old release serving,
 * the ref where it was, and after the next start no trace of the interrupted release.
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
  gateFile,
  gitLive,
  logDir,
  newMarker,
  parseSummary,
  pgrpOf,
  pidAlive,
  portRange,
  scriptProcesses,
  status,
  stopAll,
  waitFor,
  waitForAnswer,
} from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

const REPO = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
      worker: {type: SimpleProcess, cmd: node worker.js}
    env: {SLIPWAY_TEST_ID: ${marker}, GATE: gate-main}
    hooks: {build: ["sh build.sh"]}
`;

describe('apps outlive the gateway; kill -9 mid-deploy loses nothing', () => {
  let inst: Instance;
  let work: string;
  const url = () => `${inst.url}/hello`;
  const commits: Record<string, string> = {};

  async function web0() {
    const st = await status(inst, 'alice', 'hello', 'main');
    const w = st.processes.find((p) => p.runner === 'web' && p.index === 0);
    assert.ok(w?.pid && w.port, `no web.0 in status:\n${st.processes.map((p) => p.line).join('\n')}`);
    return { ...w, pid: w.pid, port: w.port, all: st.processes };
  }

  /** After a restart: no pending deploy, no checkout of it, nothing of its processes. */
  function assertUndone(pending: { id: string; checkout: string }): void {
    assert.equal(branchState(inst, 'hello', 'main').pending, null, 'the interrupted deploy is still pending');
    const dirs = checkoutsOf(inst, 'hello', 'main');
    assert.ok(!dirs.some((d) => d.startsWith(`${pending.id}-`)), `the pending checkout is still there: ${dirs.join(', ')}`);
    assert.ok(!fs.existsSync(pending.checkout) && !fs.existsSync(`${pending.checkout}.partial`));
  }

  before(async () => {
    inst = await startInstance({ slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n`, repos: { hello: REPO } });
    work = path.join(tempDir(), 'work');
    commits.v1 = await commitApp(work, inst, 'v1');
    const r = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await ask(parseSummary(r.stderr).runners.web!.ports[0]!)).commit, commits.v1);
  });
  after(() => stopAll(inst, marker));

  test('a stopped gateway leaves apps serving and logging; the next start adopts the same processes and supervises them again', async () => {
    const before_ = await web0();
    const worker = before_.all.find((p) => p.runner === 'worker')!;
    const app = await ask(before_.port);
    await inst.stop();
    const a = await ask(before_.port);
    assert.equal(a.pid, app.pid, 'the app survived the gateway');
    assert.ok(pidAlive(worker.pid!), 'the worker survived the gateway');
    const workerLog = path.join(logDir(inst, 'hello', 'main'), 'worker.0.log');
    const size = fs.statSync(workerLog).size;
    await waitFor(() => fs.statSync(workerLog).size > size, 5000, 'the worker to keep logging without the gateway');

    await inst.start();
    const after_ = await web0();
    assert.equal(after_.pid, before_.pid, 'the web process was adopted, not restarted');
    assert.equal(after_.port, before_.port);
    assert.equal(after_.state, 'running');
    assert.equal(after_.all.find((p) => p.runner === 'worker')!.pid, worker.pid, 'the worker was adopted');
    assert.equal((await ask(before_.port)).pid, app.pid);
    assert.equal(scriptProcesses(marker, 'server.js').length, 1, 'no second copy started');

    process.kill(app.pid, 'SIGKILL');
    const restarted = await waitFor(async () => {
      const w = await web0();
      return w.pid !== before_.pid && w.state === 'running' && w.restarts === 1 ? w : null;
    }, 20_000, 'the adopted process to be restarted after a kill');
    // An adopted process is not our child: how it ended is unknown, and status says so (not `null`).
    assert.match(restarted.line, / last exit: exit status unknown$/);
    const fresh = await waitForAnswer(before_.port, (x) => x.pid !== app.pid);
    assert.equal(pgrpOf(fresh.pid), restarted.pid, 'the new app runs under the restarted process');
  });

  test('kill -9 of the gateway during a build: after the next start the old release serves, the ref stays, the pending checkout is gone and a new push deploys', async () => {
    const before_ = await web0();
    const app = await ask(before_.port);
    fs.writeFileSync(gateFile(inst, 'hello', 'gate-main'), '');
    commits.v2 = await commitApp(work, inst, 'v2');
    const push = gitLive(inst, ['push', url(), 'main'], { cwd: work });
    await push.waitOutput(/-----> Build/);
    // The build's process group is recorded just after it spawns; the kill comes once it is, so
    // that the test is about a kill during the build, not in the instant before it is on record.
    const pending = await waitFor(() => {
      const p = branchState(inst, 'hello', 'main').pending;
      return p?.hook ? p : null;
    }, 20_000, 'the build hook recorded in the pending deploy');
    await inst.stop('SIGKILL');
    const r = await push.done;
    assert.notEqual(r.code, 0);
    assert.equal((await ask(before_.port)).pid, app.pid, 'the old release serves while the gateway is down');

    await inst.start();
    assertUndone(pending);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v1);
    const after_ = await web0();
    assert.equal(after_.pid, before_.pid, 'the old release was adopted');
    const now = await ask(after_.port);
    assert.equal(now.commit, commits.v1, 'the ref matches what runs');
    assert.equal(now.pid, app.pid, 'the same app process serves');
    // Checked while the gate still holds the build; asserted last, so the branch is left usable.
    const leftovers = appProcesses(marker).filter((p) => p.env.SLIPWAY_RELEASE === pending.id);

    fs.rmSync(gateFile(inst, 'hello', 'gate-main'), { force: true });
    const again = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await ask(parseSummary(again.stderr).runners.web!.ports[0]!)).commit, commits.v2);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v2);
    await assertFsckClean(inst, 'hello');
    assert.deepEqual(leftovers.map((p) => `${p.pid} ${p.cmdline.join(' ')}`), [], `processes of the interrupted ${pending.id} (its build hook) survived the next start`);
  });

  test('kill -9 of the gateway while the new release starts: after the next start its processes are stopped and the old release serves', async () => {
    fs.rmSync(gateFile(inst, 'hello', 'gate-main'), { force: true });
    const before_ = await web0();
    const old = await serverRef(inst, 'hello', 'refs/heads/main');
    const oldApp = await ask(before_.port);
    commits.v3 = await commitApp(work, inst, 'v3', { slowStartMs: 8000 });
    const push = gitLive(inst, ['push', url(), 'main'], { cwd: work });
    const out = await push.waitOutput(/-----> Start/);
    const id = /as release (r\d+)/.exec(out)![1]!;
    await waitFor(() => scriptProcesses(marker, 'server.js', id).length > 0 && scriptProcesses(marker, 'worker.js', id).length > 0, 10_000, `the processes of ${id} to start`);
    const pending = branchState(inst, 'hello', 'main').pending!;
    assert.equal(pending.id, id);
    await inst.stop('SIGKILL');
    await push.done;

    await inst.start();
    assertUndone(pending);
    await waitFor(() => appProcesses(marker).every((p) => p.env.SLIPWAY_RELEASE !== id), 15_000, `the processes of the interrupted ${id} to be stopped`);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), old);
    const after_ = await web0();
    assert.equal(after_.pid, before_.pid);
    const now = await ask(after_.port);
    assert.equal(now.commit, old, 'the ref matches what runs');
    assert.equal(now.pid, oldApp.pid, 'the old app process was adopted');
    assert.deepEqual(after_.all.map((p) => `${p.runner}.${p.index} ${p.state}`).sort(), ['web.0 running', 'worker.0 running']);
    await assertFsckClean(inst, 'hello');
  });
});
