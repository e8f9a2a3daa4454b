/**
 * System mode (pyPaaS style): the operator's nginx includes conf_dir/*.conf; slipway writes its
 * files there, tests with test_cmd and reloads with reload_cmd. A refused change leaves conf_dir
 * exactly as it was, and files slipway did not write are never touched. The "system" nginx here
 * is a real nginx with its own main config, started by the test.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, newMarker, portRange, reloadConfig, stopAll, waitFor } from './helpers/deploy.ts';
import { run, startInstance, tempDir, type Instance } from './helpers/instance.ts';
import { freePort, requireNginx, web } from './helpers/nginx.ts';

const nginx = requireNginx();
const marker = newMarker();
const ports = portRange();

describe('system nginx (managed: false)', () => {
  let inst: Instance;
  let httpPort: number;
  const sys = tempDir();
  const confDir = path.join(sys, 'sites');
  const nginxArgs = `-p ${sys}/ -e ${sys}/error.log -c ${sys}/nginx.conf`;
  const snapshot = () => Object.fromEntries(fs.readdirSync(confDir).sort().map((f) => [f, fs.readFileSync(path.join(confDir, f), 'utf8')]));

  before(async () => {
    httpPort = await freePort();
    fs.mkdirSync(confDir);
    fs.writeFileSync(path.join(confDir, 'operator.conf'), `server { listen 127.0.0.1:${httpPort}; server_name other.test; return 200 "the operator's own site\\n"; }\n`);
    fs.writeFileSync(path.join(sys, 'uwsgi_params'), '');
    fs.writeFileSync(
      path.join(sys, 'nginx.conf'),
      `pid ${sys}/nginx.pid;\nerror_log ${sys}/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${sys}/body;\n  proxy_temp_path ${sys}/proxy;\n  fastcgi_temp_path ${sys}/fastcgi;\n  uwsgi_temp_path ${sys}/uwsgi;\n  scgi_temp_path ${sys}/scgi;\n  include ${confDir}/*.conf;\n}\n`,
    );
    const started = await run(nginx, nginxArgs.split(' '));
    assert.equal(started.code, 0, started.stderr);
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\ndrain_seconds: 0\nnginx:\n  managed: false\n  address: 127.0.0.1\n  conf_dir: ${confDir}\n  http_port: ${httpPort}\n  test_cmd: ${nginx} -t -q ${nginxArgs}\n  reload_cmd: ${nginx} -s reload ${nginxArgs}\n`,
      repos: { app: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n` },
      domains: { 'app.test': 'ssl: false\nlocations:\n  /:\n    upstream: {repo: app, branch: main, runner: web}\n' },
    });
  });
  after(async () => {
    await run(nginx, ['-s', 'stop', ...nginxArgs.split(' ')]);
    await stopAll(inst, marker);
  });

  test('a push is served by the system nginx through the files slipway wrote into conf_dir', async () => {
    const work = path.join(inst.root, 'work');
    await commitApp(work, inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`live at http://app\\.test:${httpPort}/`));
    // `nginx -s reload` only signals the master: the new config takes a moment, and old workers
    // may still take a connection or two, so wait until three answers in a row come from the app.
    const version = async () => {
      const body = (await web(httpPort, 'app.test')).body;
      return body.startsWith('{') ? (JSON.parse(body) as { version: string }).version : `not the app: ${body.slice(0, 40)}`;
    };
    const served = await waitFor(async () => {
      const three = [await version(), await version(), await version()];
      return three.every((v) => v === three[0]) && !three[0]!.startsWith('not the app') ? three[0] : undefined;
    }, 5000, 'the reload');
    assert.equal(served, 'v1');
    assert.deepEqual(Object.keys(snapshot()), ['app.test.conf', 'operator.conf', 'upstream_backend_web-app-main.conf']);
    assert.equal((await web(httpPort, 'other.test')).body, "the operator's own site\n");
  });

  test('a change the system nginx refuses leaves conf_dir as it was; a removed domain takes only its own files', async () => {
    const before_ = snapshot();
    const domain = path.join(inst.configDir, 'domains', 'app.test.yml');
    fs.writeFileSync(domain, 'ssl: false\nlocations:\n  /:\n    upstream: {repo: app, branch: main, runner: web}\n    nginx_extra_config: "no_such_directive 1;"\n');
    const at = inst.output.length;
    inst.proc!.kill('SIGHUP');
    const refused = await waitFor(() => /config reload refused, the config on disk is not applied: (.*)/.exec(inst.output.slice(at))?.[1], 20_000, 'the refusal');
    assert.match(refused, /^domains\/app\.test\.yml: nginx refused the configuration: unknown directive "no_such_directive"/);
    assert.deepEqual(snapshot(), before_);
    assert.equal(JSON.parse((await web(httpPort, 'app.test')).body).version, 'v1');
    fs.rmSync(domain);
    await reloadConfig(inst);
    assert.deepEqual(Object.keys(snapshot()), ['operator.conf']);
    assert.equal((await web(httpPort, 'other.test')).body, "the operator's own site\n");
  });
});
