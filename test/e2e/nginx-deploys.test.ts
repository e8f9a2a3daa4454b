/**
 * Switches through a real nginx: a client requesting every 20 ms on fresh connections sees no
 * failed request while the app is redeployed and rolled back (health, switch, drain, stop), and a
 * branch whose old processes are stopped for its maintenance hook is answered by its
 * maintenance_upstream meanwhile.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, commitApp, gitLive, newMarker, portRange, waitFor } from './helpers/deploy.ts';
import { gitEnv, run, startInstance, type Instance } from './helpers/instance.ts';
import { freePort, requireNginx, stopWithNginx, web } from './helpers/nginx.ts';

requireNginx();
const marker = newMarker();
const ports = portRange();

const APP = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js, healthcheck: {path: /health, timeout: 10}}
    env: {SLIPWAY_TEST_ID: ${marker}}
`;
const MAINT = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
    env: {SLIPWAY_TEST_ID: ${marker}}
    hooks: {maintenance: ["sleep 2"]}
`;

/** Requests every 20 ms on a fresh connection until stopped; every answer's status and version. */
function loadLoop(port: number, host: string) {
  const results: { at: number; status: number; version: string; error?: string }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        const a = await web(port, host, '/', { timeoutMs: 5000 });
        results.push({ at: started, status: a.status, version: a.status === 200 ? (JSON.parse(a.body) as { version: string }).version : a.body.slice(0, 60) });
      } catch (err) {
        results.push({ at: started, status: 0, version: '', error: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 20 - (Date.now() - started))));
    }
  })();
  return { results, stop: async () => ((running = false), await loop) };
}

describe('switches through nginx', () => {
  let inst: Instance;
  let httpPort: number;

  before(async () => {
    httpPort = await freePort();
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nnginx: {address: 127.0.0.1, http_port: ${httpPort}}\ndrain_seconds: 1\n`,
      repos: { app: APP, maint: MAINT, down: 'branches:\n  main:\n    runners:\n      page: {type: NginxStatic}\n' },
      domains: {
        'app.test': 'ssl: false\nlocations:\n  /:\n    upstream: {repo: app, branch: main, runner: web}\n',
        'maint.test': 'ssl: false\nlocations:\n  /:\n    upstream: {repo: maint, branch: main, runner: web}\n    maintenance_upstream: {repo: down, branch: main, runner: page}\n',
      },
    });
    fs.chmodSync(inst.root, 0o755);
  });
  after(() => stopWithNginx(inst, marker));

  test('redeploys, a rollback and a restart under a 20 ms request loop: no request fails, each switch serves the new version', async () => {
    const work = path.join(inst.root, 'app');
    await commitApp(work, inst, 'v1');
    assert.equal((await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work })).code, 0);
    const load = loadLoop(httpPort, 'app.test');
    // After each operation returned and before the next began, only its version may answer.
    const settled: { from: number; to: number; version: string }[] = [];
    const settle = (version: string) => settled.push({ from: Date.now(), to: Infinity, version });
    const next = () => settled.length && (settled[settled.length - 1]!.to = Date.now());
    try {
      for (const v of ['v2', 'v3']) {
        await commitApp(work, inst, v, { slowStartMs: 300 });
        next();
        const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work });
        settle(v);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /-----> Stop release r\d after 1 s for its requests to finish/);
        const a = await web(httpPort, 'app.test');
        assert.equal(JSON.parse(a.body).version, v, 'the push returns once nginx serves the new version');
      }
      next();
      const rb = await inst.ssh('alice', ['rollback', 'app', 'main']);
      settle('v2');
      assert.equal(rb.code, 0, rb.stderr);
      assert.match(rb.stdout + rb.stderr, new RegExp(`live at http://app\\.test:${httpPort}/`));
      const before_ = JSON.parse((await web(httpPort, 'app.test')).body) as { version: string; pid: number; port: number };
      assert.equal(before_.version, 'v2');
      // The pid an app reports is the one in its sandbox's pid namespace: ask maps it to the host's.
      const beforePid = (await ask(before_.port)).pid;
      next();
      const rs = await inst.ssh('alice', ['restart', 'app', 'main']);
      settle('v2');
      assert.equal(rs.code, 0, rs.stderr);
      const after_ = JSON.parse((await web(httpPort, 'app.test')).body) as { version: string; pid: number; port: number };
      assert.deepEqual([after_.version, after_.port], ['v2', before_.port], 'restarted on its own port');
      assert.notEqual((await ask(after_.port)).pid, beforePid);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await load.stop();
    }
    const failed = load.results.filter((r) => r.status !== 200);
    assert.ok(load.results.length > 50, `only ${load.results.length} requests`);
    assert.deepEqual(failed, [], `${failed.length} of ${load.results.length} requests failed`);
    // While nginx reloads, old and new workers both answer for a moment; once an operation has returned, only the new version does.
    const runs = load.results.map((r) => r.version).filter((v, i, all) => i === 0 || v !== all[i - 1]);
    assert.deepEqual([...new Set(runs)], ['v1', 'v2', 'v3'], runs.join(' '));
    assert.equal(runs.at(-1), 'v2');
    for (const w of settled) {
      const stale = load.results.filter((r) => r.at > w.from && r.at < w.to && r.version !== w.version);
      assert.deepEqual(stale, [], `answers other than ${w.version} after the switch to it returned`);
    }
  });

  test('while the maintenance hook runs, the maintenance_upstream answers; then the new release', async () => {
    const page = path.join(inst.root, 'down');
    const env = gitEnv(inst.home);
    fs.mkdirSync(page);
    await run('git', ['init', '-q', '-b', 'main'], { cwd: page, env });
    fs.writeFileSync(path.join(page, 'index.html'), 'down for maintenance\n');
    await run('git', ['add', '-A'], { cwd: page, env });
    await run('git', ['commit', '-qm', 'page'], { cwd: page, env });
    assert.equal((await inst.git(['push', `${inst.url}/down`, 'main'], { cwd: page })).code, 0);
    const work = path.join(inst.root, 'maint');
    // Not deployed yet: the maintenance page answers.
    assert.equal((await web(httpPort, 'maint.test')).body, 'down for maintenance\n');
    await commitApp(work, inst, 'm1');
    assert.equal((await inst.git(['push', `${inst.url}/maint`, 'main'], { cwd: work })).code, 0);
    assert.equal(JSON.parse((await web(httpPort, 'maint.test')).body).version, 'm1');
    await commitApp(work, inst, 'm2');
    const push = gitLive(inst, ['push', `${inst.url}/maint`, 'main'], { cwd: work });
    await push.waitOutput(/-----> Maintenance/);
    await waitFor(async () => (await web(httpPort, 'maint.test')).body === 'down for maintenance\n', 5000, 'the maintenance page');
    const r = await push.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse((await web(httpPort, 'maint.test')).body).version, 'm2');
    const st = await inst.ssh('alice', ['status', 'maint']);
    assert.match(st.stdout, /^ {2}\/ -> maint\/main web \(NginxBackend, r2, port \d+\)$/m);
  });
});
