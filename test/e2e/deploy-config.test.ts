/**
 * What the branch config asks for is what runs: two backends on one branch, a branch named
 * `feature/x`, lowering process_count (at the next deploy and at a config reload), removing a
 * runner, and deleting a branch (its runners stop, its releases stay).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ask,
  branchState,
  checkoutsOf,
  commitApp,
  logDir,
  newMarker,
  parseSummary,
  pidAlive,
  portRange,
  refused,
  releases,
  reloadConfig,
  scriptProcesses,
  status,
  stopAll,
  waitFor,
} from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

function repoYml(o: { mainWeb: number; hupWeb: number; hupWorker: boolean }): string {
  const env = `    env: {SLIPWAY_TEST_ID: ${marker}}\n`;
  return `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js, process_count: ${o.mainWeb}}
      api: {type: NginxBackend, cmd: node server.js}
${env}  hup:
    runners:
      web: {type: NginxBackend, cmd: node server.js, process_count: ${o.hupWeb}}
${o.hupWorker ? '      worker: {type: SimpleProcess, cmd: node worker.js}\n' : ''}${env}  feature/x:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
${env}`;
}

describe('the branch config decides what runs', () => {
  let inst: Instance;
  let work: string;
  const url = () => `${inst.url}/hello`;
  const commits: Record<string, string> = {};
  const writeConfig = (o: Parameters<typeof repoYml>[0]) => fs.writeFileSync(path.join(inst.configDir, 'repos', 'hello.yml'), repoYml(o));
  /** The node processes (apps, not their shells or log writers) of a branch. */
  const branchProcs = (branch: string) => [...scriptProcesses(marker, 'server.js'), ...scriptProcesses(marker, 'worker.js')].filter((p) => p.env.SLIPWAY_BRANCH === branch);

  before(async () => {
    inst = await startInstance({ slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n`, repos: { hello: repoYml({ mainWeb: 2, hupWeb: 2, hupWorker: true }) } });
    work = path.join(tempDir(), 'work');
    commits.v1 = await commitApp(work, inst, 'v1');
  });
  after(() => stopAll(inst, marker));

  test('two backends on one branch get distinct ports and every process answers on its own', async () => {
    const r = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stderr);
    assert.equal(s.runners.web!.ports.length, 2);
    assert.equal(s.runners.api!.ports.length, 1);
    const all = [...s.runners.web!.ports, ...s.runners.api!.ports];
    assert.equal(new Set(all).size, 3, `ports shared: ${s.line}`);
    const pids = new Set<number>();
    for (const p of all) {
      const a = await ask(p);
      assert.equal(a.commit, commits.v1);
      assert.equal(a.port, p);
      pids.add(a.pid);
    }
    assert.equal(pids.size, 3);
    const st = await status(inst, 'alice', 'hello', 'main');
    assert.deepEqual(st.processes.map((p) => p.port).sort(), [...all].sort());
    await assertFsckClean(inst, 'hello');
  });

  test('a branch named feature/x deploys, with its checkout, logs and state kept apart under one path segment', async () => {
    const r = await inst.git(['push', url(), 'main:feature/x'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stderr);
    assert.equal(s.branch, 'feature/x');
    const a = await ask(s.runners.web!.ports[0]!);
    assert.equal(a.env.SLIPWAY_BRANCH, 'feature/x');
    assert.equal(a.commit, commits.v1);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/feature/x'), commits.v1);
    assert.deepEqual(checkoutsOf(inst, 'hello', 'feature/x'), [`r1-${commits.v1.slice(0, 12)}`]);
    assert.ok(fs.existsSync(path.join(inst.dataDir, 'checkouts', 'hello', 'feature%2Fx')));
    await waitFor(() => fs.existsSync(path.join(logDir(inst, 'hello', 'feature/x'), 'web.0.log')), 5000, 'logs/hello/feature%2Fx/web.0.log');
    assert.ok(!fs.existsSync(path.join(inst.dataDir, 'logs', 'hello', 'feature')), 'no nested feature/ folder');
    const rel = await releases(inst, 'alice', 'hello', 'feature/x');
    assert.deepEqual(rel.list.map((x) => `${x.current ? '*' : ' '}${x.id}`), ['*r1']);
    const st = await status(inst, 'alice', 'hello', 'feature/x');
    assert.match(st.head, /^hello\/feature\/x: r1 /);
    assert.equal(st.processes.length, 1);
  });

  test('after lowering process_count from 2 to 1 a push leaves exactly one web process', async () => {
    writeConfig({ mainWeb: 1, hupWeb: 2, hupWorker: true });
    await reloadConfig(inst);
    commits.v2 = await commitApp(work, inst, 'v2');
    const r = await inst.git(['push', url(), 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stderr);
    assert.deepEqual({ running: s.runners.web!.running, wanted: s.runners.web!.wanted }, { running: 1, wanted: 1 });
    const st = await status(inst, 'alice', 'hello', 'main');
    assert.deepEqual(st.processes.map((p) => `${p.runner}.${p.index} ${p.state}`).sort(), ['api.0 running', 'web.0 running']);
    await waitFor(() => branchProcs('main').length === 2, 5000, 'two processes (web.0, api.0) on main');
    for (const p of branchProcs('main')) assert.equal(p.env.GIT_COMMIT, commits.v2);
    await assertFsckClean(inst, 'hello');
  });

  test('lowering process_count and removing a runner at a config reload make a new release of the same checkout, without a push', async () => {
    const r = await inst.git(['push', url(), 'main:hup'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const before_ = await status(inst, 'alice', 'hello', 'hup');
    assert.deepEqual(before_.processes.map((p) => `${p.runner}.${p.index}`).sort(), ['web.0', 'web.1', 'worker.0']);
    const was = before_.processes[0]!.release;
    const checkouts = checkoutsOf(inst, 'hello', 'hup');

    writeConfig({ mainWeb: 1, hupWeb: 1, hupWorker: false });
    await reloadConfig(inst);
    const after_ = await waitFor(async () => {
      const st = await status(inst, 'alice', 'hello', 'hup');
      return st.processes.length === 1 && st.processes[0]!.release !== was ? st : null;
    }, 20_000, 'hup to run one process of a new release');
    assert.equal(after_.processes[0]!.runner, 'web');
    const rel = await releases(inst, 'alice', 'hello', 'hup');
    assert.match(rel.text, new RegExp(`^\\* ${rel.current} +config: web process_count 2 -> 1, runner worker removed +by (SIGHUP|watch) `, 'm'));
    assert.deepEqual(checkoutsOf(inst, 'hello', 'hup'), checkouts, 'no new checkout: nothing was rebuilt');
    await waitFor(() => before_.processes.every((p) => !pidAlive(p.pid!)), 10_000, 'the processes of the old release to stop');
    await waitFor(() => branchProcs('hup').length === 1, 5000, 'one node process left on hup');
  });

  test('an admin deleting a branch stops its runners and keeps its releases; a rollback brings it back', async () => {
    const st = await status(inst, 'alice', 'hello', 'feature/x');
    const port = st.processes[0]!.port!;
    const r = await inst.git(['push', url(), '--delete', 'feature/x'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/feature/x'), null);
    await waitFor(() => branchProcs('feature/x').length === 0, 10_000, 'the runners of feature/x to stop');
    assert.ok(await refused(port), 'the deleted branch no longer answers');
    const after_ = await status(inst, 'alice', 'hello', 'feature/x');
    assert.match(after_.head, /not deployed/);
    assert.equal(after_.processes.length, 0);
    const rel = await releases(inst, 'alice', 'hello', 'feature/x');
    assert.deepEqual(rel.list.map((x) => x.id), ['r1'], 'the release is kept');
    assert.equal(rel.current, null);
    assert.deepEqual(checkoutsOf(inst, 'hello', 'feature/x'), [`r1-${commits.v1.slice(0, 12)}`], 'the checkout is kept');
    assert.equal(branchState(inst, 'hello', 'feature/x').releases.length, 1);
    assert.ok(branchProcs('main').length === 2, 'other branches keep running');

    const back = await inst.ssh('alice', ['rollback', 'hello', 'feature/x', 'r1']);
    assert.equal(back.code, 0, back.stderr);
    const s = parseSummary(back.stdout);
    assert.equal((await ask(s.runners.web!.ports[0]!)).commit, commits.v1);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/feature/x'), commits.v1);
    await assertFsckClean(inst, 'hello');
  });
});
