/**
 * git push deploys, through the real git and ssh clients: first deploy, redeploy, build and
 * health failures, supervision of a killed process, restart, rollback, custom commands, the
 * app environment and the logs. One instance; the tests run in order on one branch.
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
  logDir,
  newMarker,
  parseSummary,
  pgrpOf,
  pidAlive,
  portRange,
  refused,
  releases,
  remoteLines,
  scriptProcesses,
  status,
  stopAll,
  waitFor,
  waitForAnswer,
  type Summary,
} from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();
// A variable of the gateway's own environment: it must not reach apps, hooks or custom commands.
process.env.SLIPWAY_GATEWAY_ONLY = 'gateway-secret';

const REPO = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js, process_count: 2, healthcheck: {path: /health, timeout: 3}}
      worker: {type: SimpleProcess, cmd: node worker.js}
    env: {GREETING: hi, SLIPWAY_TEST_ID: ${marker}}
    hooks: {build: ["sh build.sh"]}
    custom_cmds:
      hello: "echo hello from $SLIPWAY_RELEASE; echo to stderr >&2; exit 3"
      env: env
      where: pwd
`;

/** Variables a process may have: the documented ones, plus what /bin/sh itself exports. */
const ALLOWED = new Set(['PATH', 'HOME', 'LANG', 'USER', 'TMPDIR', 'SHELL', 'GREETING', 'SLIPWAY_TEST_ID', 'GIT_COMMIT', 'SLIPWAY_REPO', 'SLIPWAY_BRANCH', 'SLIPWAY_RELEASE', 'PORT', 'PWD', 'OLDPWD', 'SHLVL', '_']);
const FORBIDDEN = ['GIT_DIR', 'GIT_PROTOCOL', 'SSH_CONNECTION', 'SSH_CLIENT', 'SSH_ORIGINAL_COMMAND', 'SSH_AUTH_SOCK', 'SLIPWAY_GATEWAY_ONLY', 'SLIPWAY_LOG_LEVEL', 'NODE_OPTIONS'];

function checkEnv(env: Record<string, string>, where: string, commit: string, release: string): void {
  for (const k of FORBIDDEN) assert.equal(env[k], undefined, `${where}: ${k} leaked in (${env[k]})`);
  const extra = Object.keys(env).filter((k) => !ALLOWED.has(k));
  assert.deepEqual(extra, [], `${where}: unexpected variables ${extra.join(', ')}`);
  assert.equal(env.GREETING, 'hi', `${where}: branch env missing`);
  assert.equal(env.GIT_COMMIT, commit, `${where}: GIT_COMMIT is not the full sha`);
  assert.equal(env.SLIPWAY_REPO, 'hello', where);
  assert.equal(env.SLIPWAY_BRANCH, 'main', where);
  assert.equal(env.SLIPWAY_RELEASE, release, where);
  for (const k of ['PATH', 'HOME', 'LANG', 'USER', 'TMPDIR', 'SHELL']) assert.ok(env[k], `${where}: ${k} missing`);
}

function parseEnvText(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const l of text.split('\n')) {
    const i = l.indexOf('=');
    if (i > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(l.slice(0, i))) env[l.slice(0, i)] = l.slice(i + 1);
  }
  return env;
}

/** Every `-----> Step` heading is closed by a line with its duration before the next heading. */
function assertSections(lines: string[], steps: string[]): void {
  const headings = lines.filter((l) => l.startsWith('-----> ')).map((l) => l.slice(7).split(' ')[0]);
  assert.deepEqual(headings, steps, `sections:\n${lines.join('\n')}`);
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('-----> ')) continue;
    let j = i + 1;
    while (j < lines.length && !/\(\d+\.\d+ s\)$/.test(lines[j]!) && !lines[j]!.startsWith('----->')) j++;
    assert.ok(j < lines.length && !lines[j]!.startsWith('----->'), `section '${lines[i]}' has no duration line`);
  }
}

describe('deploy by git push: first deploy, redeploy, failures, supervision, rollback', () => {
  let inst: Instance;
  let work: string;
  const url = () => `${inst.url}/hello`;
  const commits: Record<string, string> = {};
  let current: Summary;
  let currentRelease = '';

  const push = () => inst.git(['push', url(), 'main'], { cwd: work });
  const releaseOf = (out: string) => /-----> Checkout [0-9a-f]{12} of hello\/main as release (r\d+)/.exec(out)?.[1];
  const webPorts = () => current.runners.web!.ports;

  before(async () => {
    inst = await startInstance({ slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n`, repos: { hello: REPO } });
    work = path.join(tempDir(), 'work');
  });
  after(() => stopAll(inst, marker));

  test('a first push checks out, builds, starts two web processes and a worker, reports it, and moves the ref', async () => {
    commits.v1 = await commitApp(work, inst, 'v1');
    const r = await push();
    assert.equal(r.code, 0, r.stderr);
    const lines = remoteLines(r.stderr);
    assert.ok(lines.includes(`-----> Checkout ${commits.v1.slice(0, 12)} of hello/main as release r1`), lines.join('\n'));
    assert.ok(lines.some((l) => /^-----> Build sh build\.sh$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.trim() === 'building version v1'), 'build output is streamed to the pusher');
    assertSections(lines, ['Checkout', 'Build', 'Start', 'Switch']);

    current = parseSummary(r.stderr);
    currentRelease = 'r1';
    assert.equal(current.repo, 'hello');
    assert.equal(current.branch, 'main');
    assert.equal(current.short, commits.v1.slice(0, 8));
    assert.deepEqual({ running: current.runners.web!.running, wanted: current.runners.web!.wanted }, { running: 2, wanted: 2 });
    assert.deepEqual(current.runners.worker, { running: 1, wanted: 1, ports: [] });
    assert.equal(new Set(webPorts()).size, 2, 'two web processes, two ports');
    for (const p of webPorts()) assert.ok(p >= ports.min && p < ports.max, `port ${p} outside ${ports.min}-${ports.max}`);

    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v1);
    const answers = await Promise.all(webPorts().map((p) => ask(p)));
    for (const [i, a] of answers.entries()) {
      assert.equal(a.version, 'v1');
      assert.equal(a.commit, commits.v1);
      assert.equal(a.release, 'r1');
      assert.equal(a.port, webPorts()[i]);
    }
    assert.notEqual(answers[0]!.pid, answers[1]!.pid);
    assert.equal(scriptProcesses(marker, 'worker.js').length, 1, 'one worker runs');

    const st = await status(inst, 'alice', 'hello', 'main');
    assert.match(st.head, new RegExp(`^hello/main: r1 ${commits.v1.slice(0, 12)} by alice`));
    assert.deepEqual(st.processes.map((p) => `${p.runner}.${p.index} ${p.release} ${p.state} ${p.restarts}`).sort(), ['web.0 r1 running 0', 'web.1 r1 running 0', 'worker.0 r1 running 0']);
    // The supervised pid leads the app's process group (it may be a shell around node).
    const leaders = st.processes.filter((p) => p.runner === 'web').map((p) => p.pid).sort();
    assert.deepEqual(answers.map((a) => pgrpOf(a.pid)).sort(), leaders, 'each app runs in the process group of its status pid');
    await assertFsckClean(inst, 'hello');
  });

  test('apps, build hooks and custom commands get the branch env and slipway variables, nothing of the ssh session or the gateway', async () => {
    const a = await ask(webPorts()[0]!);
    checkEnv(a.env, 'app', commits.v1, 'r1');
    assert.equal(a.env.PORT, String(webPorts()[0]), 'PORT is the process port');

    const state = branchState(inst, 'hello', 'main');
    const checkout = state.releases.find((x) => x.id === 'r1')!.checkout;
    assert.equal(path.basename(checkout), `r1-${commits.v1.slice(0, 12)}`);
    assert.equal(a.cwd, fs.realpathSync(checkout), 'the app runs in its checkout');
    assert.ok(!fs.existsSync(path.join(checkout, '.git')), 'a checkout has no .git');
    const buildEnv = parseEnvText(fs.readFileSync(path.join(checkout, 'build-env.txt'), 'utf8'));
    checkEnv(buildEnv, 'build hook', commits.v1, 'r1');
    assert.equal(buildEnv.PORT, undefined, 'a build hook has no PORT');

    const r = await inst.ssh('alice', ['custom_cmds', 'hello', 'main', 'env']);
    assert.equal(r.code, 0, r.stderr);
    checkEnv(parseEnvText(r.stdout), 'custom command', commits.v1, 'r1');
  });

  test('each process logs timestamped lines to its own file, and the release has a deploy log', async () => {
    await ask(webPorts()[0]!);
    const dir = logDir(inst, 'hello', 'main');
    const web0 = path.join(dir, 'web.0.log');
    const text = await waitFor(() => {
      const t = fs.existsSync(web0) ? fs.readFileSync(web0, 'utf8') : '';
      return /listening on/.test(t) && /request GET \//.test(t) ? t : null;
    }, 10_000, 'start and request lines in web.0.log');
    for (const l of text.split('\n').filter(Boolean)) assert.match(l, /^\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d/, `untimestamped log line in web.0.log: ${l}`);
    const worker = path.join(dir, 'worker.0.log');
    const size = fs.statSync(worker).size;
    await waitFor(() => fs.statSync(worker).size > size, 5000, 'the worker log to grow');
    assert.match(fs.readFileSync(worker, 'utf8'), /tick \d+ pid \d+/);

    const deployLog = fs.readFileSync(path.join(dir, 'deploy-r1.log'), 'utf8');
    assert.match(deployLog, /-----> Checkout/);
    assert.match(deployLog, /building version v1/);
    assert.ok(deployLog.includes(current.line), 'the deploy log ends with the summary');
  });

  test('a redeploy serves the new version on fresh ports and stops the old processes', async () => {
    const oldPorts = webPorts();
    const oldPids = (await Promise.all(oldPorts.map((p) => ask(p)))).map((a) => a.pid);
    const oldWorker = scriptProcesses(marker, 'worker.js').map((p) => p.pid);
    commits.v2 = await commitApp(work, inst, 'v2');
    const r = await push();
    assert.equal(r.code, 0, r.stderr);
    const lines = remoteLines(r.stderr);
    assertSections(lines, ['Checkout', 'Build', 'Start', 'Switch', 'Stop']);
    assert.ok(lines.some((l) => l === '-----> Stop release r1'), lines.join('\n'));
    current = parseSummary(r.stderr);
    currentRelease = 'r2';
    assert.equal(current.short, commits.v2.slice(0, 8));
    for (const p of webPorts()) assert.ok(!oldPorts.includes(p), `new release reuses port ${p}`);
    for (const p of webPorts()) {
      const a = await ask(p);
      assert.equal(a.version, 'v2');
      assert.equal(a.commit, commits.v2);
      assert.equal(a.release, 'r2');
    }
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v2);
    await waitFor(() => [...oldPids, ...oldWorker].every((pid) => !pidAlive(pid)), 5000, 'the old processes to be gone');
    for (const p of oldPorts) assert.ok(await refused(p), `old port ${p} still answers`);
    await waitFor(() => appProcesses(marker).every((p) => p.env.SLIPWAY_RELEASE !== 'r1'), 5000, `nothing of r1 to run; left: ${appProcesses(marker).filter((p) => p.env.SLIPWAY_RELEASE === 'r1').map((p) => p.cmdline.join(' ')).join('; ')}`);
    const rel = await releases(inst, 'alice', 'hello', 'main');
    assert.deepEqual(rel.list.map((x) => `${x.current ? '*' : ' '}${x.id}`), ['*r2', ' r1']);
    await assertFsckClean(inst, 'hello');
  });

  test('a failing build rejects the push with the step, its output once and the reason; the old version keeps serving and the ref stays', async () => {
    const before = await Promise.all(webPorts().map((p) => ask(p)));
    commits.bad = await commitApp(work, inst, 'v-broken', { buildFail: true });
    const r = await push();
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes('! [remote rejected] main -> main (deploy failed: build exited 3)'), r.stderr);
    const lines = remoteLines(r.stderr);
    const failed = lines.findIndex((l) => /^!----> Build failed: build exited 3 \(\d+\.\d+ s\)$/.test(l));
    assert.ok(failed >= 0, lines.join('\n'));
    // Short output is still on screen right above the failure: it is not printed a second time.
    for (const out of ['compile error: something broke', 'error on line 2']) {
      const at = lines.flatMap((l, i) => (l.trim().replace(/^\| /, '') === out ? [i] : []));
      assert.equal(at.length, 1, `'${out}' once:\n${lines.join('\n')}`);
      assert.ok(at[0]! < failed, `'${out}' before the failure line`);
    }
    assert.ok(!lines.some((l) => /lines? of output:/.test(l)), lines.join('\n'));
    assert.doesNotMatch(r.stderr, /internal error|\s+at .*\.(ts|js):\d+/, 'no stack trace');
    assert.ok(!lines.some((l) => l.startsWith('-----> Start')), 'nothing starts after a failed build');

    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v2);
    const after_ = await Promise.all(webPorts().map((p) => ask(p)));
    assert.deepEqual(after_.map((a) => [a.version, a.pid]), before.map((a) => [a.version, a.pid]), 'the same processes serve the old version');
    const failedId = releaseOf(r.stderr)!;
    assert.ok(failedId, 'the checkout line names the release id');
    assert.ok(!checkoutsOf(inst, 'hello', 'main').some((c) => c.startsWith(`${failedId}-`)), 'the failed checkout is removed');
    assert.equal(branchState(inst, 'hello', 'main').pending, null);
    assert.equal((await releases(inst, 'alice', 'hello', 'main')).current, 'r2');
    assert.match(fs.readFileSync(path.join(logDir(inst, 'hello', 'main'), `deploy-${failedId}.log`), 'utf8'), /Build failed: build exited 3/);
    await assertFsckClean(inst, 'hello');
  });

  test('a version that fails its health check is rejected and its processes stopped; the old version keeps serving', async () => {
    const before = await Promise.all(webPorts().map((p) => ask(p)));
    commits.unhealthy = await commitApp(work, inst, 'v-unhealthy', { unhealthy: true });
    const r = await push();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /! \[remote rejected\] main -> main \(deploy failed: [^\n]*health[^\n]*\)/);
    const lines = remoteLines(r.stderr);
    assert.ok(lines.some((l) => /^!----> Start failed: .*health.*web/.test(l)), lines.join('\n'));
    assert.doesNotMatch(r.stderr, /internal error|\s+at .*\.(ts|js):\d+/, 'no stack trace');
    const failedId = releaseOf(r.stderr)!;

    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v2);
    const after_ = await Promise.all(webPorts().map((p) => ask(p)));
    assert.deepEqual(after_.map((a) => [a.version, a.pid]), before.map((a) => [a.version, a.pid]));
    await waitFor(() => appProcesses(marker).every((p) => p.env.SLIPWAY_RELEASE !== failedId), 5000, `the processes of ${failedId} to be stopped`);
    const st = await status(inst, 'alice', 'hello', 'main');
    assert.ok(st.processes.every((p) => p.release === 'r2' && p.state === 'running'), st.processes.map((p) => p.line).join('\n'));
    await assertFsckClean(inst, 'hello');
  });

  test('a killed app process is restarted by the supervisor and status counts one restart', async () => {
    const st = await status(inst, 'alice', 'hello', 'main');
    const web0 = st.processes.find((p) => p.runner === 'web' && p.index === 0)!;
    assert.ok(web0.pid && web0.port);
    const app = await ask(web0.port);
    process.kill(app.pid, 'SIGKILL');
    const restarted = await waitFor(async () => {
      const s = await status(inst, 'alice', 'hello', 'main');
      const p = s.processes.find((x) => x.runner === 'web' && x.index === 0);
      return p && p.state === 'running' && p.pid !== web0.pid && p.restarts === 1 ? { p, s } : null;
    }, 20_000, `web.0 to be restarted (status pid ${web0.pid}, app pid ${app.pid})`);
    const a = await waitForAnswer(web0.port, (x) => x.pid !== app.pid);
    assert.equal(pgrpOf(a.pid), restarted.p.pid);
    assert.equal(a.version, 'v2');
    for (const p of restarted.s.processes.filter((x) => !(x.runner === 'web' && x.index === 0))) assert.equal(p.restarts, 0, p.line);
  });

  test('restart replaces every process of the current release on the same ports and is not counted as a crash', async () => {
    const before = await status(inst, 'alice', 'hello', 'main');
    const appPids = new Map<number, number>();
    for (const p of before.processes) if (p.port) appPids.set(p.port, (await ask(p.port)).pid);
    const r = await inst.ssh('alice', ['restart', 'hello', 'main']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello\/main: restarted 3 processes of r2/);
    const after_ = await status(inst, 'alice', 'hello', 'main');
    for (const b of before.processes) {
      const a = after_.processes.find((x) => x.runner === b.runner && x.index === b.index)!;
      assert.ok(a, `${b.runner}.${b.index} is gone after restart`);
      assert.notEqual(a.pid, b.pid, `${b.runner}.${b.index} kept its pid`);
      assert.equal(a.port, b.port);
      assert.ok(a.restarts <= b.restarts, `restart counted as a crash: ${a.line}`);
      if (a.port) await waitForAnswer(a.port, (x) => x.pid !== appPids.get(a.port!));
      assert.ok(!pidAlive(b.pid!), `old pid ${b.pid} still runs`);
    }
  });

  test('rollback runs the previous release again as a new release entry, without rebuilding, and moves the ref back', async () => {
    const oldPids = scriptProcesses(marker, 'server.js').map((p) => p.pid);
    const r = await inst.ssh('alice', ['rollback', 'hello', 'main']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /-----> Build|building version/, 'a rollback does not rebuild');
    current = parseSummary(r.stdout);
    // The failed deploys above used up release numbers: the rollback is the next one.
    const rel = await releases(inst, 'alice', 'hello', 'main');
    currentRelease = rel.current!;
    assert.deepEqual(rel.list.map((x) => `${x.current ? '*' : ' '}${x.id}`), [`*${currentRelease}`, ' r2', ' r1']);
    assert.match(rel.text, new RegExp(`^\\* ${currentRelease} +rollback to r1 +by alice `, 'm'));
    assert.equal(current.short, commits.v1.slice(0, 8));
    for (const p of webPorts()) {
      const a = await ask(p);
      assert.equal(a.version, 'v1');
      assert.equal(a.commit, commits.v1);
      assert.equal(a.release, currentRelease);
    }
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v1);
    const state = branchState(inst, 'hello', 'main');
    assert.equal(state.releases.find((x) => x.id === currentRelease)!.checkout, state.releases.find((x) => x.id === 'r1')!.checkout, 'the rollback runs r1\'s checkout');
    await waitFor(() => oldPids.every((pid) => !pidAlive(pid)), 5000, 'the r2 processes to stop');
    const st = await status(inst, 'alice', 'hello', 'main');
    assert.ok(st.head.startsWith(`hello/main: ${currentRelease} ${commits.v1.slice(0, 12)}`), st.head);
    assert.ok(st.processes.every((p) => p.release === currentRelease), st.processes.map((p) => p.line).join('\n'));

    const again = await inst.ssh('alice', ['rollback', 'hello', 'main', 'r1']);
    assert.notEqual(again.code, 0);
    assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);
    assert.match(again.stderr, /r1 is already the current release/);
    await assertFsckClean(inst, 'hello');
  });

  test('a custom command runs in the current checkout, streams its output and exits with its code', async () => {
    const r = await inst.ssh('alice', ['custom_cmds', 'hello', 'main', 'hello']);
    assert.equal(r.code, 3, `exit code: ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, new RegExp(`hello from ${currentRelease}\\b`));
    assert.match(r.stdout + r.stderr, /to stderr/);
    const where = await inst.ssh('alice', ['custom_cmds', 'hello', 'main', 'where']);
    assert.equal(where.code, 0, where.stderr);
    const checkout = branchState(inst, 'hello', 'main').releases.find((x) => x.id === currentRelease)!.checkout;
    assert.equal(fs.realpathSync(where.stdout.trim()), fs.realpathSync(checkout));
    const unknown = await inst.ssh('alice', ['custom_cmds', 'hello', 'main', 'nope']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no custom command 'nope'/);
  });

  test('after more deploys only the last keep_releases checkouts stay on disk', async () => {
    commits.v3 = await commitApp(work, inst, 'v3');
    let r = await push();
    assert.equal(r.code, 0, r.stderr);
    commits.v4 = await commitApp(work, inst, 'v4');
    r = await push();
    assert.equal(r.code, 0, r.stderr);
    current = parseSummary(r.stderr);
    assert.equal((await ask(webPorts()[0]!)).version, 'v4');
    const state = branchState(inst, 'hello', 'main');
    assert.equal(state.releases.length, 3, JSON.stringify(state.releases.map((x) => x.id)));
    assert.deepEqual(checkoutsOf(inst, 'hello', 'main'), state.releases.map((x) => path.basename(x.checkout)).sort());
    const rel = await releases(inst, 'alice', 'hello', 'main');
    assert.equal(rel.list.length, 3);
    assert.equal(rel.list[0]!.current, true);
    assert.equal(rel.list[0]!.short, commits.v4.slice(0, 12));
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), commits.v4);
    await assertFsckClean(inst, 'hello');
  });
});
