/**
 * nginx and the config: a domain file nginx rejects is refused at reload while serving goes on
 * (and by `slipway check`, quoting nginx), a uwsgi backend answers through uwsgi_pass, an
 * operator's template overrides slipway's, a gateway restart adopts the running nginx, and a
 * killed nginx is started again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, newMarker, portRange, reloadConfig, waitFor } from './helpers/deploy.ts';
import { gitEnv, ROOT, run, startInstance, tempDir, type Instance } from './helpers/instance.ts';
import { freePort, masterPid, requireNginx, stopWithNginx, web } from './helpers/nginx.ts';

requireNginx();
const marker = newMarker();
const ports = portRange();

/** A minimal uwsgi server: reads one uwsgi packet, answers with raw HTTP naming PATH_INFO. */
const UWSGI_JS = `const net = require('node:net');
net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length < 4 || buf.length < 4 + buf.readUInt16LE(1)) return;
    const vars = {};
    for (let i = 4; i < 4 + buf.readUInt16LE(1); ) {
      const kl = buf.readUInt16LE(i); const k = buf.toString('utf8', i + 2, i + 2 + kl); i += 2 + kl;
      const vl = buf.readUInt16LE(i); const v = buf.toString('utf8', i + 2, i + 2 + vl); i += 2 + vl;
      vars[k] = v;
    }
    sock.end('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nuwsgi ' + vars.REQUEST_METHOD + ' ' + vars.PATH_INFO + '\\n');
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const check = (configDir: string) => run(process.execPath, [path.join(ROOT, 'bin/slipway.js'), 'check', '--config', configDir]);

describe('nginx and the config', () => {
  let inst: Instance;
  let httpPort: number;
  const domainFile = () => path.join(inst.configDir, 'domains', 'app.test.yml');
  const GOOD = 'ssl: false\nlocations:\n  /:\n    upstream: {repo: app, branch: main, runner: web}\n  /py/:\n    upstream: {repo: app, branch: main, runner: py}\n';

  before(async () => {
    httpPort = await freePort();
    const templates = tempDir();
    fs.mkdirSync(path.join(templates, 'location'));
    fs.writeFileSync(path.join(templates, 'location', 'NginxBackend.njk'), 'proxy_pass http://{{ upstream }};\nadd_header X-Template operator always;\n');
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nnginx: {address: 127.0.0.1, http_port: ${httpPort}, templates: ${templates}}\ndrain_seconds: 0\n`,
      repos: { app: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n      py: {type: UwsgiNginxBackend, cmd: node uwsgi.js}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n` },
      domains: { 'app.test': GOOD },
    });
  });
  after(() => stopWithNginx(inst, marker));

  test('an operator template overrides one file; a uwsgi runner answers through uwsgi_pass', async () => {
    const work = path.join(inst.root, 'work');
    await commitApp(work, inst, 'v1');
    fs.writeFileSync(path.join(work, 'uwsgi.js'), UWSGI_JS);
    await run('git', ['add', '-A'], { cwd: work, env: gitEnv(inst.home) });
    await run('git', ['commit', '-qm', 'uwsgi'], { cwd: work, env: gitEnv(inst.home) });
    const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const a = await web(httpPort, 'app.test', '/');
    assert.equal(JSON.parse(a.body).version, 'v1');
    assert.equal(a.headers['x-template'], 'operator');
    const py = await web(httpPort, 'app.test', '/py/items');
    assert.equal(py.status, 200);
    assert.equal(py.body, 'uwsgi GET /py/items\n');
    assert.equal(py.headers['x-template'], undefined, 'the uwsgi body is still slipway\'s');
  });

  test('a domain file with a directive nginx rejects is refused at reload and by check; serving goes on', async () => {
    fs.writeFileSync(domainFile(), GOOD + '    nginx_extra_config: "bogus_directive on;"\n');
    const before_ = inst.output.length;
    inst.proc!.kill('SIGHUP');
    const refused = await waitFor(() => /config reload refused, the config on disk is not applied: (.*)/.exec(inst.output.slice(before_))?.[1], 20_000, 'the refusal');
    assert.match(refused, /^domains\/app\.test\.yml: nginx refused the configuration: unknown directive "bogus_directive" \(generated app\.test\.conf line \d+\)$/);
    assert.equal(JSON.parse((await web(httpPort, 'app.test')).body).version, 'v1');
    const c = await check(inst.configDir);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /^domains\/app\.test\.yml: nginx refused the configuration: unknown directive "bogus_directive"/m);
    // The old config stays in force: a deploy still renders the good one.
    fs.writeFileSync(domainFile(), GOOD);
    await reloadConfig(inst);
    assert.equal((await check(inst.configDir)).code, 0);
  });

  test('check: duplicate server names and a location on a SimpleProcess are one line each', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'repos'));
    fs.mkdirSync(path.join(dir, 'domains'));
    fs.writeFileSync(path.join(dir, 'slipway.yml'), `nginx: {http_port: ${httpPort}}\n`);
    fs.writeFileSync(path.join(dir, 'repos', 'app.yml'), 'branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: x}\n      py: {type: UwsgiNginxBackend, cmd: x}\n      job: {type: SimpleProcess, cmd: x}\n');
    fs.writeFileSync(path.join(dir, 'domains', 'a.test.yml'), 'ssl: false\nlocations:\n  /: {upstream: {repo: app, branch: main, runner: py}}\n');
    assert.equal((await check(dir)).code, 0, 'uwsgi rendering passes nginx -t');
    fs.writeFileSync(path.join(dir, 'domains', 'A.test.yml'), 'ssl: false\nlocations:\n  /: {upstream: {repo: app, branch: main, runner: web}}\n');
    let c = await check(dir);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /^domains\/a\.test\.yml: server name 'a\.test' is also served by domains\/A\.test\.yml \(nginx names ignore case; keep one file\)$/m);
    fs.rmSync(path.join(dir, 'domains', 'A.test.yml'));
    fs.writeFileSync(path.join(dir, 'domains', 'b.test.yml'), 'ssl: false\nlocations:\n  /: {upstream: {repo: app, branch: main, runner: job}}\n');
    c = await check(dir);
    assert.match(c.stderr, /^domains\/b\.test\.yml: locations\.\/\.upstream\.runner: runner 'job' is a SimpleProcess, which nginx cannot serve/m);
  });

  test('a gateway restart adopts the running nginx instead of starting another', async () => {
    const pid = masterPid(inst);
    assert.ok(pid);
    await inst.stop();
    assert.equal(masterPid(inst), pid, 'nginx outlives the gateway');
    assert.equal(JSON.parse((await web(httpPort, 'app.test')).body).version, 'v1');
    await inst.start();
    assert.match(inst.output, /nginx adopted/);
    assert.equal(masterPid(inst), pid);
    const work = path.join(inst.root, 'work');
    await commitApp(work, inst, 'v2');
    const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse((await web(httpPort, 'app.test')).body).version, 'v2');
  });

  test('a managed nginx that dies is started again; its orphaned workers serve until then', async () => {
    const pid = masterPid(inst)!;
    process.kill(pid, 'SIGKILL');
    assert.equal(JSON.parse((await web(httpPort, 'app.test')).body).version, 'v2', 'the orphaned workers still answer');
    const newMaster = () => {
      const p = masterPid(inst);
      return p !== null && p !== pid ? p : null;
    };
    const again = await waitFor(newMaster, 15_000, 'a new nginx master');
    await waitFor(() => /nginx master is gone; starting it again/.test(inst.output), 5000, 'the log line');
    assert.equal(JSON.parse((await web(httpPort, 'app.test')).body).version, 'v2');
    assert.equal(masterPid(inst), again);
  });
});
