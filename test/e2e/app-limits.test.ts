/**
 * Limits per app: a fork bomb in one repo's build stops at its processes limit and its build
 * timeout, while the gateway and other apps go on; a build that leaves a daemon behind does not
 * hold the branch's deploy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, commitApp, gitLive, newMarker, parseSummary, portRange, status, stopAll, waitFor } from './helpers/deploy.ts';
import { gitEnv, run, startInstance, tempDir, type Instance } from './helpers/instance.ts';

function uidOfUser(name: string): number {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `no system user ${name}`);
  return Number(line.split(':')[2]);
}

/** Live processes of a uid, with their command lines. */
function processesOf(uid: number): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
      if (Number(/^Uid:\s+(\d+)/m.exec(status)![1]) !== uid || /^State:\s+Z/m.test(status)) continue;
      out.push(fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim());
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

async function commitFiles(dir: string, inst: Instance, files: Record<string, string>): Promise<void> {
  const env = gitEnv(inst.home);
  fs.mkdirSync(dir, { recursive: true });
  await run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  await run('git', ['add', '-A'], { cwd: dir, env });
  await run('git', ['commit', '-qm', 'change', '--allow-empty'], { cwd: dir, env });
}

describe('limits per app', { skip: process.getuid?.() !== 0 && !process.env.CI && 'needs root (CI runs as root)' }, () => {
  const marker = newMarker();
  const ports = portRange();
  let inst: Instance;
  let victimWork: string;
  let victimPort: number;

  before(async () => {
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\n`,
      repos: {
        victim: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n`,
        bomb: `limits: {processes: 40, build_timeout: 8}\nbranches:\n  main:\n    env: {SLIPWAY_TEST_ID: ${marker}}\n    hooks: {build: sh bomb.sh}\n`,
        daemon: `branches:\n  main:\n    env: {SLIPWAY_TEST_ID: ${marker}}\n    hooks: {build: sh daemon.sh}\n`,
      },
    });
    victimWork = path.join(tempDir(), 'victim');
    await commitApp(victimWork, inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/victim`, 'main'], { cwd: victimWork });
    assert.equal(r.code, 0, r.stderr);
    victimPort = parseSummary(r.stderr).runners.web!.ports[0]!;
  });
  after(() => stopAll(inst, marker));

  test('a fork bomb in a build stops at its processes limit; the gateway and other apps keep working; the timeout kills it all', async () => {
    const work = path.join(tempDir(), 'bomb');
    // bash retries a fork that fails instead of exiting, so the bomb sits at the limit for a while;
    // `exec sleep` needs no fork, so the build lasts until its timeout whatever the bomb does.
    await commitFiles(work, inst, { 'bomb.sh': "echo bombing\nbash -c 'b() { b & b & wait; }; b' &\nexec sleep 100\n" });
    const uid = uidOfUser('slipway-bomb');
    const started = Date.now();
    const push = gitLive(inst, ['push', `${inst.url}/bomb`, 'main'], { cwd: work });
    await push.waitOutput(/bombing/);
    await waitFor(() => processesOf(uid).length >= 30, 10_000, 'the bomb to grow');
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, processesOf(uid).length)), 100);
    try {
      const who = await inst.ssh('alice', ['whoami']);
      assert.equal(who.code, 0, `the gateway answers during the bomb: ${who.stderr}`);
      assert.equal((await ask(victimPort)).version, 'v1', 'the other app serves during the bomb');
      await commitApp(victimWork, inst, 'v2');
      const r = await inst.git(['push', `${inst.url}/victim`, 'main'], { cwd: victimWork });
      assert.equal(r.code, 0, `another repo deploys during the bomb: ${r.stderr}`);
      assert.equal((await ask(parseSummary(r.stderr).runners.web!.ports[0]!)).version, 'v2');
    } finally {
      clearInterval(sampler);
    }
    const done = await push.done;
    assert.notEqual(done.code, 0);
    assert.match(done.stderr, /deploy failed: build timed out after 8 s/);
    assert.ok(Date.now() - started < 30_000, 'the timeout ended the build');
    assert.ok(most <= 40, `the bomb's user ran ${most} processes, over its limit of 40`);
    await waitFor(() => processesOf(uid).length === 0, 5000, `every process of the bomb to be gone; left: ${processesOf(uid).join('; ')}`);
  });

  test('a build that leaves a daemon behind ends with its shell: the deploy finishes, the daemon is gone, the next push deploys', async () => {
    const work = path.join(tempDir(), 'daemon');
    await commitFiles(work, inst, { 'daemon.sh': '(setsid sleep 1000 &)\nsleep 0.2\necho left a daemon\n' });
    const uid = uidOfUser('slipway-daemon');
    const started = Date.now();
    const r = await inst.git(['push', `${inst.url}/daemon`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /left a daemon/);
    assert.ok(Date.now() - started < 15_000, `the push took ${Date.now() - started} ms: the daemon held it`);
    await waitFor(() => !processesOf(uid).some((c) => c.includes('sleep 1000')), 5000, 'the daemon to be gone');
    fs.appendFileSync(path.join(work, 'daemon.sh'), '# again\n');
    await run('git', ['commit', '-qam', 'again'], { cwd: work, env: gitEnv(inst.home) });
    const again = await inst.git(['push', `${inst.url}/daemon`, 'main'], { cwd: work });
    assert.equal(again.code, 0, `the branch is not held: ${again.stderr}`);
  });
});

describe('a daemon left by a build without a sandbox (isolation: user)', { skip: process.getuid?.() !== 0 && !process.env.CI && 'needs root (CI runs as root)' }, () => {
  const marker = newMarker();
  let inst: Instance;
  after(() => stopAll(inst, marker));

  test('is killed when the build ends; the repo’s running app is left alone', async () => {
    inst = await startInstance({
      openRoot: true,
      slipwayYml: 'isolation: user\n',
      repos: { lurker: `branches:\n  main:\n    runners:\n      app: {type: SimpleProcess, cmd: exec sleep 2000}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n    hooks: {build: sh daemon.sh}\n` },
    });
    const work = path.join(tempDir(), 'lurker');
    await commitFiles(work, inst, { 'daemon.sh': '(setsid sleep 1000 &)\nsleep 0.2\necho left a daemon\n' });
    const uid = uidOfUser('slipway-lurker');
    let r = await inst.git(['push', `${inst.url}/lurker`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => !processesOf(uid).some((c) => c.includes('sleep 1000')), 5000, `the daemon to be gone; left: ${processesOf(uid).join('; ')}`);
    assert.ok(processesOf(uid).some((c) => c.includes('sleep 2000')), 'the app runs');
    const app = (await status(inst, 'alice', 'lurker', 'main')).processes[0]!;
    fs.appendFileSync(path.join(work, 'daemon.sh'), '# again\n');
    await run('git', ['commit', '-qam', 'again'], { cwd: work, env: gitEnv(inst.home) });
    r = await inst.git(['push', `${inst.url}/lurker`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const killed = [...inst.output.matchAll(/killing a process a build left behind repo=lurker pid=(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(killed.length, 2, `one daemon per build: ${killed.join(', ')}`);
    assert.ok(!killed.includes(app.pid!), 'the running app of the first release was not taken for a leftover');
    assert.ok(!processesOf(uid).some((c) => c.includes('sleep 1000')));
  });
});
