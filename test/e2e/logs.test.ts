/**
 * `logs` over the real OpenSSH client against apps deployed by real pushes: the tail merged by
 * time, following live through requests, rotation and a redeploy, deploy logs, roles, the clean-up
 * when a follower disconnects; and what a push shows while a health check waits and when the new
 * process fails (its own last lines, not those of the release running beside it).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, httpGet, logDir, newMarker, parseSummary, portRange, remoteLines, sshLive, stopAll, waitFor, type LiveSsh, type Summary } from './helpers/deploy.ts';
import { commitChange, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

const HELLO = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js, process_count: 2, healthcheck: {path: /health, timeout: 3}}
      worker: {type: SimpleProcess, cmd: node worker.js}
    env: {SLIPWAY_TEST_ID: ${marker}}
`;

/** A server that cannot start: what it prints is what the pusher needs to see. */
const CRASHING_SERVER = `console.log('starting up');
console.error('boom: config file settings.json is missing');
process.exit(1);
`;

/** Inotify watches and open log files of the gateway process, from /proc. */
function gatewayHolds(inst: Instance): { watches: number; logFiles: string[] } {
  const pid = inst.proc!.pid!;
  let watches = 0;
  const logFiles: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target === 'anon_inode:inotify') watches += fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    if (target.includes(`${path.sep}logs${path.sep}hello${path.sep}`)) logFiles.push(target);
  }
  return { watches, logFiles };
}

describe('logs: tail, follow across rotation and deploys, deploy logs, roles; deploy output', () => {
  let inst: Instance;
  let work: string;
  let current: Summary;
  /** inotify watches the gateway holds of its own (the config dir's) before any follower */
  let ownWatches = 0;
  const followers: LiveSsh[] = [];
  const push = () => inst.git(['push', `${inst.url}/hello`, 'main'], { cwd: work });
  const webPorts = () => current.runners.web!.ports;
  const follow = (user: string, ...args: string[]) => {
    const f = sshLive(inst, user, ['logs', ...args]);
    followers.push(f);
    return f;
  };

  before(async () => {
    inst = await startInstance({
      // Small logs, so that a few hundred requests rotate them. The config dir is not watched:
      // its inotify watches would count among the followers' ones that gatewayHolds counts.
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nlogs: {max_size: 8KiB, keep: 2}\nwatch_config: false\nusers:\n  alice: admin\n  reader: {read: [other]}\n`,
      repos: { hello: HELLO, other: 'branches:\n  main: {}\n' },
      users: ['alice', 'reader'],
    });
    work = path.join(tempDir(), 'work');
    await commitApp(work, inst, 'v1');
    const r = await push();
    assert.equal(r.code, 0, r.stderr);
    current = parseSummary(r.stderr);
    ownWatches = gatewayHolds(inst).watches;
  });
  after(async () => {
    for (const f of followers) f.kill();
    await stopAll(inst, marker);
  });

  test('-n prints the last N lines of the runner, merged by time across its processes, each prefixed with its process', async () => {
    // Each line is stamped by its process's log writer as it reads it: the next request waits
    // until the line is in, so that the stamps are in the order the requests were made.
    const logs = logDir(inst, 'hello', 'main');
    for (let i = 1; i <= 6; i++) {
      await httpGet(webPorts()[i % 2]!, `/n-${i}`);
      const file = path.join(logs, `web.${i % 2}.log`);
      await waitFor(() => (fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(`GET /n-${i}\n`) ? true : null), 10_000, `/n-${i} in ${file}`);
    }
    const tail = await waitFor(async () => {
      const r = await inst.ssh('alice', ['logs', 'hello', 'main', 'web', '-n', '3']);
      return r.stdout.includes('/n-6') ? r : null;
    }, 10_000, 'the last request in `logs -n 3`');
    assert.equal(tail.code, 0, tail.stderr);
    assert.deepEqual(tail.stdout.trimEnd().split('\n'), ['web.0 | request GET /n-4', 'web.1 | request GET /n-5', 'web.0 | request GET /n-6']);

    // The worker prints ten lines a second: soon there are more than 100.
    const all = await waitFor(async () => {
      const r = await inst.ssh('alice', ['logs', 'hello', 'main']);
      return r.stdout.trimEnd().split('\n').length >= 100 ? r : null;
    }, 20_000, '100 lines in the logs');
    const lines = all.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 100, 'the default is the last 100 lines');
    for (const l of lines) assert.match(l, /^(web\.[01]   |worker\.0) \| /);
    assert.ok(lines.some((l) => l.startsWith('worker.0 | tick ')), 'the worker is in the merged tail');
  });

  test('--json prints one object per line: time, process, release, line; -f --json goes on in the same shape', async () => {
    await httpGet(webPorts()[0]!, '/json-tail');
    const tail = await waitFor(async () => {
      const r = await inst.ssh('alice', ['logs', 'hello', 'main', 'web', '-n', '1', '--json']);
      return r.stdout.includes('/json-tail') ? r : null;
    }, 10_000, 'the request in `logs --json`');
    assert.equal(tail.code, 0, tail.stderr);
    const [only, ...rest] = tail.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(rest.length, 0);
    assert.deepEqual({ ...only, time: undefined }, { time: undefined, process: 'web.0', release: 'r1', line: 'request GET /json-tail', note: false });
    assert.match(only.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(Math.abs(Date.parse(only.time) - Date.now()) < 60_000, `${only.time} is the time of the request`);

    const f = follow('alice', 'hello', 'main', 'web', '-f', '-n', '0', '--json');
    await waitFor(async () => {
      await httpGet(webPorts()[1]!, '/json-follow');
      return f.output().includes('/json-follow');
    }, 10_000, 'the follower to follow');
    const seen = f.output().trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.ok(seen.length > 0 && seen.every((o) => o.process === 'web.1' && o.release === 'r1' && o.line === 'request GET /json-follow' && o.note === false), f.output());
  });

  test('logs -f shows a request made after it started, within a second', async () => {
    const f = follow('alice', 'hello', 'main', '-f', '-n', '1');
    await f.wait(/ \| /);
    await httpGet(webPorts()[1]!, '/after-follow');
    await f.wait(/^web\.1 +\| request GET \/after-follow$/m, 1000);
  });

  test('a follower sees every line once, in order, while the log rotates', async () => {
    const f = follow('alice', 'hello', 'main', 'web', '-f', '-n', '1');
    await f.wait(/ \| /);
    const rotatedBefore = fs.statSync(path.join(logDir(inst, 'hello', 'main'), 'web.0.log.1'), { throwIfNoEntry: false })?.ino;
    for (let i = 0; i < 300; i++) await httpGet(webPorts()[0]!, `/rot-${i}`);
    await f.wait(/request GET \/rot-299$/m, 10_000);
    const got = f.output().split('\n').flatMap((l) => /^web\.0 \| request GET \/rot-(\d+)$/.exec(l)?.[1] ?? []).map(Number);
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i));
    const rotatedNow = fs.statSync(path.join(logDir(inst, 'hello', 'main'), 'web.0.log.1')).ino;
    assert.notEqual(rotatedNow, rotatedBefore, 'web.0.log rotated meanwhile');
  });

  test('a follower survives a redeploy: the new processes appear in the stream and the old ones end', async () => {
    const f = follow('alice', 'hello', 'main', '-f', '-n', '0');
    // Nothing to show yet with -n 0: a request proves it follows.
    await waitFor(async () => {
      await httpGet(webPorts()[0]!, '/ready');
      return f.output().includes('request GET /ready');
    }, 10_000, 'the follower to follow');
    await commitApp(work, inst, 'v2');
    const r = await push();
    assert.equal(r.code, 0, r.stderr);
    current = parseSummary(r.stderr);
    await f.wait(/^web\.0 +\| -- r2 started \(pid \d+, port \d+\)$/m);
    await f.wait(new RegExp(`^web\\.0 +\\| listening on ${webPorts()[0]} version v2`, 'm'));
    await f.wait(/^web\.0 +\| -- r1 stopped$/m);
    await f.wait(/^worker\.0 +\| -- r1 stopped$/m);
    await httpGet(webPorts()[1]!, '/after-redeploy');
    await f.wait(/^web\.1 +\| request GET \/after-redeploy$/m, 1000);
  });

  test('--deploy prints the newest deploy log, or the one of the release named', async () => {
    const newest = await inst.ssh('alice', ['logs', 'hello', 'main', '--deploy']);
    assert.equal(newest.code, 0, newest.stderr);
    assert.match(newest.stdout, /^-----> Checkout [0-9a-f]{12} of hello\/main as release r2$/m);
    const r1 = await inst.ssh('alice', ['logs', 'hello', 'main', '--deploy', 'r1']);
    assert.match(r1.stdout, /^-----> Checkout [0-9a-f]{12} of hello\/main as release r1$/m);
    assert.match(r1.stdout, /^hello\/main [0-9a-f]{8}: web 2\/2 on ports/m);
    const missing = await inst.ssh('alice', ['logs', 'hello', 'main', '--deploy', 'r99']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'no deploy log of r99 for hello/main (kept: r1, r2)');
    const both = await inst.ssh('alice', ['logs', 'hello', 'main', '--deploy', '-n', '5']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /usage: logs <repo> <branch> --deploy \[<release>\] \[-f\]/);
  });

  test('a user sees the logs of the repos its role covers only; another repo answers as missing', async () => {
    const denied = await inst.ssh('reader', ['logs', 'hello', 'main']);
    assert.equal(denied.code, 1);
    assert.equal(denied.stderr.trim(), "repository 'hello' not found");
    const deniedFollow = await inst.ssh('reader', ['logs', 'hello', 'main', '-f']);
    assert.equal(deniedFollow.code, 1);
    assert.equal(deniedFollow.stderr.trim(), "repository 'hello' not found");
    const own = await inst.ssh('reader', ['logs', 'other', 'main']);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout, '');
    const runner = await inst.ssh('alice', ['logs', 'hello', 'main', 'nope']);
    assert.equal(runner.code, 1);
    assert.equal(runner.stderr.trim(), "runner 'nope' is not configured for hello/main (configured: web, worker)");
    const bad = await inst.ssh('alice', ['logs', 'hello', 'main', '-n', 'many']);
    assert.equal(bad.code, 2);
  });

  test('a follower that disconnects leaves no watch and no open log file behind', async () => {
    for (const f of followers) f.kill();
    await waitFor(() => gatewayHolds(inst).logFiles.length === 0 && gatewayHolds(inst).watches === ownWatches ? true : null, 10_000, `the followers' watches to go: ${JSON.stringify(gatewayHolds(inst))}`);
    const f = follow('alice', 'hello', 'main', '-f');
    await f.wait(/ \| /);
    const held = gatewayHolds(inst);
    assert.ok(held.watches === ownWatches + 1 && held.logFiles.length >= 3, `a follower holds a watch and the log files: ${JSON.stringify(held)}`);
    f.kill();
    await waitFor(() => gatewayHolds(inst).logFiles.length === 0 && gatewayHolds(inst).watches === ownWatches ? true : null, 10_000, `the watch to go: ${JSON.stringify(gatewayHolds(inst))}`);
  });

  test('while the health check waits the push shows progress, then the unhealthy process’s own last lines', async () => {
    await commitApp(work, inst, 'v-unhealthy', { unhealthy: true });
    const pushing = push();
    // Requests to the running release meanwhile land in the same log files; they must not be shown as the new one's.
    let asking = true;
    const asker = (async () => {
      // Paced: this test's logs rotate at 8 KiB, keeping 2, and a tight loop would rotate the new release's lines away.
      while (asking) {
        await httpGet(webPorts()[0]!, '/from-the-running-release').catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const r = await pushing;
    asking = false;
    await asker;
    assert.notEqual(r.code, 0);
    const lines = remoteLines(r.stderr);
    const text = lines.join('\n');
    assert.match(text, /^ +waiting for web\.0 on :\d+, web\.1 on :\d+ \(1 s\)… (port \d+ not accepting connections|GET \/health on port \d+ answered 503)$/m);
    assert.match(text, /^!----> Start failed: health: web: GET \/health on port \d+ answered 503 after 3 s/m);
    assert.match(text, /^ +last 15 lines of web\.0 \(r3\):\n( +\| request GET \/health\n){14} +\| SIGTERM$/m);
    assert.match(text, /^ +last 15 lines of web\.1 \(r3\):$/m);
    assert.doesNotMatch(text, /from-the-running-release/);
    const web0 = path.join(logDir(inst, 'hello', 'main'), 'web.0.log');
    const logged = [web0, `${web0}.1`, `${web0}.2`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')).join('');
    assert.ok(logged.includes('from-the-running-release'), 'the running release did log those requests');
  });

  test('a process that exits during its health check has what it printed shown in the push', async () => {
    await commitChange(work, inst, 'crashing server', { 'server.js': CRASHING_SERVER, 'unhealthy': '' });
    const r = await push();
    assert.notEqual(r.code, 0);
    const text = remoteLines(r.stderr).join('\n');
    assert.match(text, /^!----> Start failed: health: web: process exited during health check \(code 1\)/m);
    assert.match(text, /^ +last 2 lines of web\.\d \(r4\):\n +\| starting up\n +\| boom: config file settings\.json is missing$/m);
    assert.doesNotMatch(text, /\s+at .*\.(ts|js):\d+/, 'no stack trace of slipway');
  });
});
