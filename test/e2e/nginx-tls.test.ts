/**
 * TLS domains through a real nginx, with a self-signed certificate made by the test: http
 * redirects to https, https serves the app with the domain's certificate and HSTS, and a deploy
 * whose nginx step is refused (the key file vanished) fails as a whole while the old release
 * keeps serving.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, newMarker, portRange } from './helpers/deploy.ts';
import { ROOT, run, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';
import { freePort, requireNginx, stopWithNginx, web } from './helpers/nginx.ts';

requireNginx();
const marker = newMarker();
const ports = portRange();

function peerName(port: number, host: string): Promise<{ cn: string; status: number; hsts: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: host, headers: { host }, agent: false, rejectUnauthorized: false, timeout: 3000 }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      res.resume();
      res.on('end', () => resolve({ cn: String(cert.subject?.CN), status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] as string | undefined }));
    });
    req.on('error', reject);
  });
}

describe('TLS domains', () => {
  let inst: Instance;
  let httpPort: number;
  let httpsPort: number;
  let certDir: string;

  before(async () => {
    httpPort = await freePort();
    httpsPort = await freePort();
    certDir = tempDir();
    const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=secure.test', '-addext', 'subjectAltName=DNS:secure.test', '-keyout', path.join(certDir, 'secure.key'), '-out', path.join(certDir, 'secure.crt')]);
    assert.equal(r.code, 0, r.stderr);
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nnginx: {address: 127.0.0.1, http_port: ${httpPort}, https_port: ${httpsPort}}\ndrain_seconds: 0\n`,
      repos: { app: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n` },
      domains: { 'secure.test': `locations:\n  /:\n    upstream: {repo: app, branch: main, runner: web}\nssl_certificate: ${certDir}/secure.crt\nssl_certificate_key: ${certDir}/secure.key\n` },
    });
  });
  after(async () => {
    await stopWithNginx(inst, marker);
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  test('https serves the app with the domain certificate and HSTS; http redirects to https', async () => {
    const work = path.join(inst.root, 'work');
    await commitApp(work, inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`remote: live at https://secure\\.test:${httpsPort}/`));
    const a = await web(httpsPort, 'secure.test', '/', { tls: true });
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).version, 'v1');
    const peer = await peerName(httpsPort, 'secure.test');
    assert.equal(peer.cn, 'secure.test');
    assert.match(peer.hsts ?? '', /max-age=\d+/);
    const redirect = await web(httpPort, 'secure.test', '/some/path?q=1');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, `https://secure.test:${httpsPort}/some/path?q=1`);
  });

  test('a deploy nginx cannot take (the key file is gone) fails whole: the ref stays, the old release serves', async () => {
    const before_ = await serverRef(inst, 'app', 'refs/heads/main');
    fs.renameSync(path.join(certDir, 'secure.key'), path.join(certDir, 'moved.key'));
    const work = path.join(inst.root, 'work');
    await commitApp(work, inst, 'v2');
    const r = await inst.git(['push', `${inst.url}/app`, 'main'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`deploy failed: switch: domains/secure\\.test\\.yml: ssl_certificate_key: certificate file ${certDir}/secure\\.key is missing or unreadable`));
    assert.match(r.stderr, /release r1 keeps running/);
    assert.equal(await serverRef(inst, 'app', 'refs/heads/main'), before_);
    assert.equal(JSON.parse((await web(httpsPort, 'secure.test', '/', { tls: true })).body).version, 'v1');
    const st = await inst.ssh('alice', ['status', 'app', 'main']);
    assert.match(st.stdout, /^app\/main: r1 /m);
    const check = await run(process.execPath, [path.join(ROOT, 'bin/slipway.js'), 'check', '--config', inst.configDir]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, new RegExp(`^domains/secure\\.test\\.yml: ssl_certificate_key: certificate file ${certDir}/secure\\.key is missing`, 'm'));
    fs.renameSync(path.join(certDir, 'moved.key'), path.join(certDir, 'secure.key'));
  });
});
