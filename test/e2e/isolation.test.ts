/**
 * A user holding `deploy: [evil]` only pushes code that tries to take the host: read the host
 * key, the process state, another app's env and checkout, the config, /etc/shadow; write a key
 * file; signal the gateway; kill another app. As a build hook, as an app and as a custom command,
 * in a sandbox (the default as root) and as a plain per-repo user, all of it fails, the pusher
 * sees what the build saw, and the admin still logs in. After a gateway restart the apps are
 * adopted and still run as their users.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ask, commitApp, logDir, newMarker, parseSummary, pidAlive, portRange, reloadConfig, remoteLines, stopAll, waitFor } from './helpers/deploy.ts';
import { gitEnv, run, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const ATTACKS = [
  'read-host-key',
  'read-state',
  'read-other-env',
  'read-other-checkout',
  'read-other-logs',
  'read-config',
  'read-shadow',
  'write-key',
  'write-new-key',
  'signal-gateway',
  'kill-other-app',
];

/** Each attempt prints `ATTACK <name>: blocked (<what it saw>)` or `ATTACK <name>: SUCCEEDED …`. */
const ATTACK_SH = `DATA=\${HOME%/apps/*}; CONFIG=\${DATA%/data}/config
try() { name=$1; shift
  if out=$("$@" 2>&1); then echo "ATTACK $name: SUCCEEDED $(printf %s "$out" | head -c 120 | tr '\\n' ' ')"
  else echo "ATTACK $name: blocked ($(printf %s "$out" | head -n 1 | cut -c 1-120))"; fi; }
pids() { for d in /proc/[0-9]*; do if tr '\\0' ' ' < $d/cmdline 2>/dev/null | grep -q -- "$1"; then echo \${d#/proc/}; fi; done; }
try read-host-key cat "$DATA/hostkeys/ssh_host_ed25519_key"
try read-state cat "$DATA/state/processes.json"
try read-other-env sh -c 'grep -l s3cret-of-victim /proc/[0-9]*/environ 2>/dev/null | grep . || { echo "no environ shows it"; exit 1; }'
try read-other-checkout ls "$DATA/checkouts/victim/main"
try read-other-logs ls "$DATA/logs/victim/main"
try read-config cat "$CONFIG/repos/victim.yml"
try read-shadow cat /etc/shadow
try write-key sh -c 'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE4l1IcHuyT0Y0rPMLGrsO8ybZ9GDs4Hc7sbD4gFvXlQ evil" >> "$CONFIG/keys/alice.pub"'
try write-new-key sh -c 'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE4l1IcHuyT0Y0rPMLGrsO8ybZ9GDs4Hc7sbD4gFvXlQ evil" > "$CONFIG/keys/root.pub"'
try signal-gateway sh -c 'p=$(cat "$DATA/slipway.pid" 2>/dev/null) || p=$(pids "slipway.js serve" | head -n 1); [ -n "$p" ] || { echo "no gateway in sight"; exit 1; }; kill -HUP $p'
try kill-other-app sh -c 'p=$(pids "node server.js" | head -n 1); [ -n "$p" ] || { echo "no other app in sight"; exit 1; }; kill -TERM $p'
echo "ATTACK as: $(id -un) uid=$(id -u) home=$HOME"
`;

function attackLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/ATTACK ([\w-]+): (.*)/g)) out.set(m[1]!, m[2]!.trim());
  return out;
}

function assertAllBlocked(text: string, where: string): void {
  const lines = attackLines(text);
  for (const a of ATTACKS) {
    assert.ok(lines.has(a), `${where}: no line for ${a} in:\n${text}`);
    assert.match(lines.get(a)!, /^blocked/, `${where}: ${a} ${lines.get(a)}`);
  }
  assert.match(lines.get('as') ?? '', /^slipway-evil uid=\d+/, `${where}: runs as its repo's user`);
  assert.doesNotMatch(text, /s3cret-of-victim/, `${where}: the other app's secret leaked`);
}

/** The uid a host pid runs as. */
function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

function uidOfUser(name: string): number {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `no system user ${name}`);
  return Number(line.split(':')[2]);
}

for (const mode of ['sandbox', 'user'] as const) {
  describe(`isolation: ${mode}: a deploy role is not a root shell`, { skip: process.getuid?.() !== 0 && !process.env.CI && 'needs root (CI runs as root)' }, () => {
    const marker = newMarker();
    const ports = portRange();
    let inst: Instance;
    let evilWork: string;
    let victimPort: number;
    let victimPid: number;
    let aliceKey: string;

    before(async () => {
      inst = await startInstance({
        openRoot: mode === 'user',
        users: ['alice', 'mallory'],
        slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nisolation: ${mode}\nusers:\n  alice: admin\n  mallory: {deploy: [evil]}\n`,
        repos: {
          victim: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n    env: {SLIPWAY_TEST_ID: ${marker}, SECRET: s3cret-of-victim}\n`,
          // The attack finds the data and config dirs from its HOME, as a real one would.
          evil: `branches:\n  main:\n    runners:\n      spy: {type: SimpleProcess, cmd: "sh attack.sh; exec sleep 1000"}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n    hooks: {build: sh attack.sh}\n    custom_cmds: {attack: sh attack.sh}\n`,
        },
      });
      aliceKey = fs.readFileSync(path.join(inst.configDir, 'keys', 'alice.pub'), 'utf8');

      const victimWork = path.join(tempDir(), 'victim');
      await commitApp(victimWork, inst, 'v1');
      const r = await inst.git(['push', `${inst.url}/victim`, 'main'], { cwd: victimWork, user: 'alice' });
      assert.equal(r.code, 0, r.stderr);
      victimPort = parseSummary(r.stderr).runners.web!.ports[0]!;
      victimPid = (await ask(victimPort)).pid;

      evilWork = path.join(tempDir(), 'evil');
      fs.mkdirSync(evilWork);
      fs.writeFileSync(path.join(evilWork, 'attack.sh'), ATTACK_SH);
      const genv = gitEnv(inst.home);
      await run('git', ['init', '-q', '-b', 'main'], { cwd: evilWork, env: genv });
      await run('git', ['add', '-A'], { cwd: evilWork, env: genv });
      await run('git', ['commit', '-qm', 'totally harmless'], { cwd: evilWork, env: genv });
    });
    after(() => stopAll(inst, marker));

    test('a build hook pushed by a deploy user reads no secret, writes no key, signals nothing; the push shows what it saw', async () => {
      const r = await inst.git(['push', `${inst.url}/evil`, 'main'], { cwd: evilWork, user: 'mallory' });
      assert.equal(r.code, 0, r.stderr);
      const build = remoteLines(r.stderr).join('\n');
      assertAllBlocked(build, 'build');
      assert.equal(fs.readFileSync(path.join(inst.configDir, 'keys', 'alice.pub'), 'utf8'), aliceKey, "alice's key file is unchanged");
      assert.ok(!fs.existsSync(path.join(inst.configDir, 'keys', 'root.pub')), 'no new key file');
      assert.equal(inst.proc?.exitCode, null, 'the gateway still runs');
      assert.doesNotMatch(inst.output, /config reloaded/, 'the gateway got no SIGHUP');
      const who = await inst.ssh('alice', ['whoami']);
      assert.equal(who.code, 0, who.stderr);
      assert.match(who.stdout, /alice/);
      assert.equal((await ask(victimPort)).pid, victimPid, 'the other app still serves, untouched');
    });

    test('the same code as an app and as a custom command fails the same way', async () => {
      const log = path.join(logDir(inst, 'evil', 'main'), 'spy.0.log');
      const text = await waitFor(() => {
        const t = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
        return t.includes('ATTACK as:') ? t : null;
      }, 20_000, 'the spy app to finish its attempts');
      assertAllBlocked(text, 'app');
      const c = await inst.ssh('mallory', ['custom_cmds', 'evil', 'main', 'attack']);
      assert.equal(c.code, 0, c.stderr);
      assertAllBlocked(c.stdout, 'custom command');
      assert.ok(pidAlive(victimPid));
    });

    test("each repo's processes run as its own user, never root, with HOME in its data folder", async () => {
      assert.equal(uidOf(victimPid), uidOfUser('slipway-victim'));
      const a = await ask(victimPort);
      assert.equal(a.env.USER, 'slipway-victim');
      assert.equal(a.env.HOME, path.join(inst.dataDir, 'apps', 'victim'));
      const home = fs.statSync(path.join(inst.dataDir, 'apps', 'victim'));
      assert.equal(home.uid, uidOfUser('slipway-victim'));
      assert.equal(home.mode & 0o777, 0o700);
      for (const d of ['state', 'hostkeys', 'logs', 'repos']) assert.equal(fs.statSync(path.join(inst.dataDir, d)).mode & 0o077, 0, `${d} is the gateway's alone`);
      assert.equal(fs.statSync(path.join(inst.dataDir, 'state', 'processes.json')).mode & 0o777, 0o600);
    });

    test('after a gateway restart the apps are adopted and still run as their users, still confined', async () => {
      await inst.stop();
      assert.ok(pidAlive(victimPid), 'the app outlives the gateway');
      await inst.start();
      await waitFor(() => /adopted id=victim\/main\/r1\/web\/0/.test(inst.output), 10_000, 'the victim to be adopted');
      assert.equal((await ask(victimPort)).pid, victimPid, 'the same process serves');
      assert.equal(uidOf(victimPid), uidOfUser('slipway-victim'));
      const c = await inst.ssh('mallory', ['custom_cmds', 'evil', 'main', 'attack']);
      assertAllBlocked(c.stdout, 'custom command after restart');
      const re = await inst.ssh('mallory', ['restart', 'evil', 'main']);
      assert.equal(re.code, 0, re.stderr);
      assert.ok(pidAlive(victimPid));
    });
  });
}

describe('isolation that cannot work here', { skip: process.getuid?.() !== 0 && !process.env.CI && 'needs root (CI runs as root)' }, () => {
  test('isolation: user with a data dir app users cannot reach is refused at start, saying what to change', async () => {
    await assert.rejects(
      startInstance({ slipwayYml: 'isolation: user\n', repos: { app: 'branches: {main: {}}\n' } }),
      /slipway\.yml: isolation: 'user' app users cannot reach \S+ because \/tmp\/slipway-test-\w+ is not searchable by others \(chmod o\+x/,
    );
  });
});

describe('apps that run as they should not (isolation turned on, or an older slipway)', { skip: process.getuid?.() !== 0 && !process.env.CI && 'needs root (CI runs as root)' }, () => {
  const marker = newMarker();
  const ports = portRange();
  let inst: Instance;
  after(() => stopAll(inst, marker));

  test('an app that ran as the gateway is restarted as its repo’s user once the config isolates it', async () => {
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nisolation: none\n`,
      repos: { late: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n` },
    });
    const work = path.join(tempDir(), 'late');
    await commitApp(work, inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/late`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const port = parseSummary(r.stderr).runners.web!.ports[0]!;
    const before_ = await ask(port);
    assert.equal(uidOf(before_.pid), 0, 'isolation: none runs it as the gateway (root)');
    fs.writeFileSync(path.join(inst.configDir, 'slipway.yml'), `ports: {min: ${ports.min}, max: ${ports.max}}\n`);
    await reloadConfig(inst);
    const after_ = await waitFor(async () => {
      const a = await ask(port);
      return a.pid !== before_.pid ? a : null;
    }, 20_000, 'the app to be restarted');
    assert.equal(uidOf(after_.pid), uidOfUser('slipway-late'));
    assert.equal(after_.release, 'r1', 'the same release, on the same port');
  });
});
