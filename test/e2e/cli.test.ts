/**
 * The command line as a newcomer meets it: `slipway serve` with no flags (the starter instance),
 * `check`, `init`, `stop`, and bad flags or configs answered with one-line errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { gitEnv, makeKey, ROOT, run, tempDir } from './helpers/instance.ts';
import { freePort, requireNginx, web } from './helpers/nginx.ts';

// The starter instance serves hello.localhost through a managed nginx when nginx is installed.
requireNginx();

const SLIPWAY = path.join(ROOT, 'bin/slipway.js');
const slipway = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => run(process.execPath, [SLIPWAY, ...args], { cwd, env: { ...process.env, ...env } });

describe('slipway serve with no flags: the starter instance', () => {
  const dir = tempDir();
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
  const key = makeKey(path.join(home, '.ssh'), 'id_ed25519').replace(/_key$/, '');
  fs.renameSync(`${key}_key`, key);
  fs.renameSync(`${key}_key.pub`, `${key}.pub`);
  const ssh = `ssh -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`;
  let output = '';
  let port = 0;
  let httpPort = 0;
  const dataDir = path.join(dir, '.slipway', 'data');

  after(async () => {
    await slipway(['stop', '--data', dataDir], dir);
  });

  test('creates .slipway with a config trusting ~/.ssh keys and an example repo, and prints how to use it', async () => {
    httpPort = await freePort();
    // --http-port stands in for the starter's 8080, which another test run may hold.
    const child = spawn(process.execPath, [SLIPWAY, 'serve', '--listen', '127.0.0.1:0', '--http-port', String(httpPort)], { cwd: dir, env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        output += d;
        const m = /slipway listening on 127\.0\.0\.1:(\d+)/.exec(output);
        if (m && output.includes('git push')) resolve(Number(m[1]));
      });
      child.stderr.on('data', (d) => (output += d));
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
    });
    assert.match(output, /ED25519 SHA256:\S+/);
    assert.match(output, /RSA\s+SHA256:\S+/);
    assert.match(output, new RegExp(`git remote add slipway ssh://paas@127\\.0\\.0\\.1:${port}/hello`));
    assert.match(output, /every key is an admin/);
    assert.match(output, new RegExp(`web: +http://hello\\.localhost:${httpPort}/`));
    assert.ok(fs.existsSync(path.join(dir, '.slipway', 'config', 'domains', 'hello.localhost.yml')));
    assert.ok(fs.existsSync(path.join(dir, '.slipway', 'config', 'slipway.yml')));
    assert.ok(fs.existsSync(path.join(dir, '.slipway', 'config', 'repos', 'hello.yml')));
    const keyFiles = fs.readdirSync(path.join(dir, '.slipway', 'config', 'keys'));
    assert.equal(keyFiles.length, 1);
    assert.equal(fs.readFileSync(path.join(dir, '.slipway', 'config', 'keys', keyFiles[0]!), 'utf8').trim(), fs.readFileSync(`${key}.pub`, 'utf8').trim());
  });

  test('the example repo clones, and pushing it deploys the hello app', async () => {
    const env = gitEnv(home, { GIT_SSH_COMMAND: ssh });
    const clone = path.join(dir, 'hello');
    const c = await run('git', ['clone', `ssh://paas@127.0.0.1:${port}/hello`, clone], { env });
    assert.equal(c.code, 0, c.stderr);
    assert.ok(fs.existsSync(path.join(clone, 'server.js')));
    fs.appendFileSync(path.join(clone, 'server.js'), '// my change\n');
    await run('git', ['commit', '-qam', 'my change'], { cwd: clone, env });
    const p = await run('git', ['push', 'origin', 'main'], { cwd: clone, env });
    assert.equal(p.code, 0, p.stderr);
    const m = /hello\/main [0-9a-f]{8}: web 1\/1 on port (\d+)/.exec(p.stderr);
    assert.ok(m, p.stderr);
    const res = await fetch(`http://127.0.0.1:${m[1]}/`);
    assert.match(await res.text(), /^hello from slipway \(commit [0-9a-f]{12}\)/);
    assert.match(p.stderr, new RegExp(`remote: live at http://hello\\.localhost:${httpPort}/`));
    const viaNginx = await web(httpPort, 'hello.localhost');
    assert.match(viaNginx.body, /^hello from slipway \(commit [0-9a-f]{12}\)/);
  });

  test('slipway stop ends the gateway and the apps it started', async () => {
    const r = await slipway(['stop', '--data', dataDir], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stopped the gateway \(pid \d+\)/);
    assert.match(r.stdout, /stopped 1 app process/);
    assert.match(r.stdout, /stopped the managed nginx/);
    await assert.rejects(web(httpPort, 'hello.localhost'));
    const probe = await run('ssh', [...ssh.split(' ').slice(1), '-o', 'ConnectTimeout=3', '-p', String(port), 'paas@127.0.0.1', 'whoami'], { env: gitEnv(home) });
    assert.notEqual(probe.code, 0);
  });
});

describe('slipway check, init and bad input', () => {
  const dir = tempDir();

  test('init writes a starter config that check accepts', async () => {
    const r = await slipway(['init', 'cfg'], dir);
    assert.equal(r.code, 0, r.stderr);
    const c = await slipway(['check', '--config', 'cfg'], dir);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /cfg: ok \(slipway\.yml; 1 repo, 1 domain, 0 keys\)/);
    const again = await slipway(['init', 'cfg'], dir);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds a configuration; refusing to overwrite/);
  });

  test('check prints every problem on its own line and exits 1', async () => {
    const cfg = path.join(dir, 'bad');
    fs.mkdirSync(path.join(cfg, 'repos'), { recursive: true });
    fs.writeFileSync(path.join(cfg, 'slipway.yml'), 'lisen: 1\n');
    fs.writeFileSync(path.join(cfg, 'repos', 'hello.yml'), 'branches:\n  main:\n    runners:\n      web: {type: Foo, cmd: x}\n');
    const r = await slipway(['check', '--config', cfg], dir);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.includes("repos/hello.yml: branches.main.runners.web.type: unknown runner type 'Foo' (expected SimpleProcess, NginxBackend, UwsgiNginxBackend, NginxStatic)"), r.stderr);
    assert.ok(lines.some((l) => l.startsWith('slipway.yml: lisen: unknown key')), r.stderr);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });

  test('check also says what serve would refuse here: isolation this machine or user cannot give', async () => {
    const cfg = path.join(dir, 'isolated');
    fs.mkdirSync(path.join(cfg, 'repos'), { recursive: true });
    fs.writeFileSync(path.join(cfg, 'slipway.yml'), 'isolation: user\n');
    fs.writeFileSync(path.join(cfg, 'repos', 'hello.yml'), 'branches:\n  main: {}\n');
    // A data dir below a folder other users cannot pass: app users could not reach their checkouts.
    const closed = path.join(tempDir(), 'closed');
    fs.mkdirSync(closed, { mode: 0o700 });
    const r = await slipway(['check', '--config', cfg, '--data', path.join(closed, 'data')], dir);
    assert.equal(r.code, 1, r.stdout);
    const why = process.getuid?.() === 0 ? /slipway\.yml: isolation: 'user' app users cannot reach .* is not searchable by others/ : /slipway\.yml: isolation: 'user' needs slipway to run as root/;
    assert.match(r.stderr, why);
    assert.match(r.stderr, /1 problem in /);
  });

  test('serve refuses a bad config with the same one-line problems and a non-zero exit', async () => {
    const r = await slipway(['serve', '--config', path.join(dir, 'bad'), '--data', path.join(dir, 'data'), '--listen', '127.0.0.1:0'], dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /repos\/hello\.yml: branches\.main\.runners\.web\.type: unknown runner type 'Foo'/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });

  test('bad flags and commands say what to fix', async () => {
    const flag = await slipway(['serve', '--lisen', '1'], dir);
    assert.equal(flag.code, 2);
    assert.equal(flag.stderr, "slipway: unknown flag '--lisen' (serve takes --config, --data, --listen, --http-port)\nusage: slipway serve [--config DIR] [--data DIR] [--listen HOST:PORT] [--http-port PORT]\n");
    const port = await slipway(['serve', '--http-port', '99999'], dir);
    assert.equal(port.code, 2);
    assert.equal(port.stderr, "slipway: --http-port: '99999' is not a port number from 1 to 65535\n");
    const missing = await slipway(['check', '--config'], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^slipway: --config needs a value \(check takes --config, --data\)\n/);
    const listen = await slipway(['serve', '--listen', 'nowhere'], dir);
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /--listen: 'nowhere' is not HOST:PORT/);
    const init = await slipway(['init', '--force', 'x'], dir);
    assert.equal(init.code, 2);
    assert.match(init.stderr, /^slipway: unknown flag '--force' \(init takes no flags\)/);
    const cmd = await slipway(['frobnicate'], dir);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command 'frobnicate'/);
  });
});

describe('slipway --version and help', () => {
  const dir = tempDir();

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await slipway(['--version'], dir);
    assert.deepEqual([r.code, r.stdout], [0, `slipway ${pkg.version}\n`]);
  });

  test('help <command> and <command> --help print that command only; help lists them all', async () => {
    const a = await slipway(['help', 'check'], dir);
    const b = await slipway(['check', '--help'], dir);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, 'usage: slipway check [--config DIR] [--data DIR]\nvalidate a config directory, print every problem\n');
    assert.equal(b.stdout, a.stdout);
    const all = await slipway(['help'], dir);
    for (const c of ['serve', 'stop', 'check', 'init', 'help', '--version']) assert.match(all.stdout, new RegExp(`^  ${c} `, 'm'));
    const none = await slipway(['help', 'nope'], dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^slipway: unknown command 'nope'/);
  });
});
