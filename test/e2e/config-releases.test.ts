/**
 * A release is its commit and the config it runs with. An env change at a reload is a new
 * release of the same checkout (no rebuild), rolled out so that no moment has processes of one
 * release with two environments; `releases` names what changed (never env values); a rollback
 * brings back the release's own env; a removed branch's runners stop.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ask,
  checkoutsOf,
  commitApp,
  newMarker,
  parseSummary,
  portRange,
  releases,
  reloadConfig,
  scriptProcesses,
  status,
  stopAll,
  waitFor,
} from './helpers/deploy.ts';
import { startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();
const SECRET = 'hunter2-not-for-logs';

function repoYml(greeting: string, o: { extra?: boolean; token?: string } = {}): string {
  const token = o.token ? `, API_TOKEN: ${o.token}` : '';
  return `branches:
  main:
    hooks:
      build: 'echo building >> build-count.txt'
    runners:
      web: {type: NginxBackend, cmd: node server.js, process_count: 2}
    env: {SLIPWAY_TEST_ID: ${marker}, GREETING: ${greeting}${token}}
${o.extra === false ? '' : `  extra:
    runners:
      worker: {type: SimpleProcess, cmd: node worker.js}
    env: {SLIPWAY_TEST_ID: ${marker}}
`}`;
}

describe('config changes are releases', () => {
  let inst: Instance;
  let work: string;
  const url = () => `${inst.url}/hello`;
  const writeRepo = (text: string) => fs.writeFileSync(path.join(inst.configDir, 'repos', 'hello.yml'), text);
  const mainServers = () => scriptProcesses(marker, 'server.js').filter((p) => p.env.SLIPWAY_BRANCH === 'main');
  /** Every server of main runs `release` with GREETING `greeting`, and nothing else of main runs. */
  const allRun = (release: string, greeting: string) =>
    waitFor(() => {
      const procs = mainServers();
      return procs.length === 2 && procs.every((p) => p.env.SLIPWAY_RELEASE === release && p.env.GREETING === greeting);
    }, 20_000, `exactly the two servers of ${release} with GREETING=${greeting}; running: ${JSON.stringify(mainServers().map((p) => [p.env.SLIPWAY_RELEASE, p.env.GREETING]))}`);
  const webPorts = async () => (await status(inst, 'alice', 'hello', 'main')).processes.filter((p) => p.runner === 'web').map((p) => p.port!);

  before(async () => {
    // Not watched: here `reload` and SIGHUP alone decide when (and by whom) a change applies.
    inst = await startInstance({ slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nwatch_config: false\n`, repos: { hello: repoYml('hello') } });
    work = path.join(tempDir(), 'work');
    await commitApp(work, inst, 'v1');
    for (const ref of ['main', 'main:extra']) {
      const r = await inst.git(['push', url(), ref], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(() => stopAll(inst, marker));

  test('an env change applied by `reload` is a new release of the same checkout, without a rebuild, and the app serves the new env', async () => {
    await allRun('r1', 'hello');
    const checkouts = checkoutsOf(inst, 'hello', 'main');
    writeRepo(repoYml('bonjour', { token: SECRET }));
    const r = await inst.ssh('alice', ['reload']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /Build|building/, 'nothing is rebuilt');
    assert.doesNotMatch(r.stdout + r.stderr + inst.output, new RegExp(SECRET), 'env values are never printed or logged');
    await allRun('r2', 'bonjour');
    for (const port of await webPorts()) {
      const a = await ask(port);
      assert.equal(a.env.GREETING, 'bonjour');
      assert.equal(a.release, 'r2');
    }
    assert.deepEqual(checkoutsOf(inst, 'hello', 'main'), checkouts, 'no new checkout');
    const buildCount = fs.readFileSync(path.join(inst.dataDir, 'checkouts', 'hello', 'main', checkouts[0]!, 'build-count.txt'), 'utf8');
    assert.equal(buildCount.trim().split('\n').length, 1, 'the build ran once, at the push');
  });

  test('`releases` says what changed, names the subject and who, and never shows env values', async () => {
    const rel = await releases(inst, 'alice', 'hello', 'main');
    assert.deepEqual(rel.list.map((x) => `${x.current ? '*' : ' '}${x.id}`), ['*r2', ' r1']);
    assert.match(rel.text, /^\* r2 +config: env API_TOKEN added, env GREETING changed +by alice /m);
    assert.match(rel.text, /^ {2}r1 +version v1 +by alice /m);
    assert.doesNotMatch(rel.text, new RegExp(`bonjour|${SECRET}`));

    const j = await inst.ssh('alice', ['releases', 'hello', 'main', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.doesNotMatch(j.stdout, new RegExp(`bonjour|${SECRET}`), '--json names env keys only');
    const doc = JSON.parse(j.stdout) as { current: string; releases: { id: string; kind: string; current: boolean; commit: string; subject: string | null; user: string; changes: string[]; rollback_of: string | null; env: string[]; runners: Record<string, { type: string; process_count: number }> }[] };
    assert.equal(doc.current, 'r2');
    const [r2, r1] = doc.releases;
    assert.deepEqual({ id: r2!.id, kind: r2!.kind, current: r2!.current, changes: r2!.changes, user: r2!.user }, { id: 'r2', kind: 'config', current: true, changes: ['env API_TOKEN added', 'env GREETING changed'], user: 'alice' });
    assert.equal(r2!.commit, r1!.commit);
    assert.deepEqual(r2!.env, ['API_TOKEN', 'GREETING', 'SLIPWAY_TEST_ID']);
    assert.deepEqual(r2!.runners, { web: { type: 'NginxBackend', process_count: 2 } });
    assert.deepEqual({ id: r1!.id, kind: r1!.kind, subject: r1!.subject }, { id: 'r1', kind: 'push', subject: 'version v1' });
  });

  test('a rollback is its own entry and brings back the env of the release it returns to; a later reload does not undo it', async () => {
    const r = await inst.ssh('alice', ['rollback', 'hello', 'main', 'r1']);
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stdout);
    assert.equal((await ask(s.runners.web!.ports[0]!)).env.GREETING, 'hello');
    await allRun('r3', 'hello');
    const rel = await releases(inst, 'alice', 'hello', 'main');
    assert.match(rel.text, /^\* r3 +rollback to r1 +by alice /m);

    // The config on disk did not change since it was applied: a reload leaves the rollback alone.
    const again = await inst.ssh('alice', ['reload']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no deployed branch changed/);
    assert.equal((await releases(inst, 'alice', 'hello', 'main')).current, 'r3');
    await allRun('r3', 'hello');
  });

  test('an env change and SIGHUP: one release, one environment', async () => {
    writeRepo(repoYml('hola'));
    await reloadConfig(inst);
    const rel = await waitFor(async () => {
      const x = await releases(inst, 'alice', 'hello', 'main');
      return x.current === 'r4' ? x : null;
    }, 20_000, 'release r4');
    // What changed is said against the release that ran: r3, which runs r1's config.
    assert.match(rel.text, /^\* r4 +config: env GREETING changed +by SIGHUP /m);
    await allRun('r4', 'hola');
    // keep_releases (3) dropped r1, but its checkout stays: r3 and r4 run from it.
    await waitFor(async () => (await releases(inst, 'alice', 'hello', 'main')).list.map((x) => x.id).join() === 'r4,r3,r2', 10_000, 'r1 to be pruned once r4 runs alone');
    assert.equal(checkoutsOf(inst, 'hello', 'main').length, 1);
    await inst.ssh('alice', ['restart', 'hello', 'main']);
    await allRun('r4', 'hola');
  });

  test("a branch removed from the config has its runners stopped; the other branch's processes are left alone", async () => {
    const workers = () => scriptProcesses(marker, 'worker.js').filter((p) => p.env.SLIPWAY_BRANCH === 'extra');
    assert.equal(workers().length, 1);
    const mainPids = mainServers().map((p) => p.pid).sort();
    writeRepo(repoYml('hola', { extra: false }));
    const r = await inst.ssh('alice', ['reload']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => workers().length === 0, 10_000, 'the worker of the removed branch to stop');
    assert.deepEqual(mainPids, mainServers().map((p) => p.pid).sort(), 'main keeps its processes');
    assert.equal((await releases(inst, 'alice', 'hello', 'main')).current, 'r4');
  });

  test('a config changed while the gateway was down is rolled out as a release when it starts again', async () => {
    await inst.stop();
    writeRepo(repoYml('ciao', { extra: false }));
    await inst.start();
    const rel = await waitFor(async () => {
      const x = await releases(inst, 'alice', 'hello', 'main');
      return x.current === 'r5' ? x : null;
    }, 20_000, 'release r5 after the start');
    assert.match(rel.text, /^\* r5 +config: env GREETING changed +by start /m);
    await allRun('r5', 'ciao');
  });
});
