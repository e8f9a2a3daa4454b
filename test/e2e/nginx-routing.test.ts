/**
 * Domains through a real managed nginx: routing by Host, a backend and static files, pushed
 * symlinks that are never followed, the URL a push reports, status, and the 503 of a domain whose
 * app has no release yet.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, newMarker, portRange } from './helpers/deploy.ts';
import { gitEnv, run, startInstance, type Instance } from './helpers/instance.ts';
import { freePort, masterPid, requireNginx, stopWithNginx, web } from './helpers/nginx.ts';

requireNginx();
const marker = newMarker();
const ports = portRange();

describe('domains through a managed nginx', () => {
  let inst: Instance;
  let httpPort: number;
  const work = () => path.join(inst.root, 'work');

  before(async () => {
    httpPort = await freePort();
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nnginx: {address: 127.0.0.1, http_port: ${httpPort}}\ndrain_seconds: 0.2\n`,
      repos: {
        shop: `branches:\n  main:\n    runners:\n      web: {type: NginxBackend, cmd: node server.js, process_count: 2}\n    env: {SLIPWAY_TEST_ID: ${marker}}\n`,
        site: 'branches:\n  main:\n    runners:\n      pages: {type: NginxStatic, subdirectory: public}\n      sneaky: {type: NginxStatic, subdirectory: etc}\n',
      },
      domains: {
        'shop.test': 'ssl: false\nlocations:\n  /:\n    upstream: {repo: shop, branch: main, runner: web}\n',
        'site.test': 'ssl: false\nlocations:\n  /:\n    upstream: {repo: site, branch: main, runner: pages}\n  /sneaky/:\n    upstream: {repo: site, branch: main, runner: sneaky}\n',
      },
    });
    // nginx's workers run as nobody when slipway runs as root: the test's folders must be readable.
    fs.chmodSync(inst.root, 0o755);
  });
  after(() => stopWithNginx(inst, marker));

  test('before any push the managed nginx runs and a domain without a release answers 503', async () => {
    assert.ok(masterPid(inst), `no nginx master:\n${inst.output}`);
    assert.match(inst.output, new RegExp(`web: +http://shop\\.test:${httpPort}/`));
    assert.equal((await web(httpPort, 'shop.test')).status, 503);
  });

  test('a push names the URL that serves it, and nginx routes by Host to its processes', async () => {
    await commitApp(work(), inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/shop`, 'main'], { cwd: work() });
    assert.equal(r.code, 0, r.stderr);
    const last = r.stderr.trim().split('\n').filter((l) => l.startsWith('remote: ')).at(-1);
    assert.equal(last?.replace(/^remote: /, '').trim(), `live at http://shop.test:${httpPort}/`);
    const answers = await Promise.all([1, 2, 3, 4].map(() => web(httpPort, 'shop.test', '/hello')));
    for (const a of answers) assert.equal(a.status, 200, a.body);
    const bodies = answers.map((a) => JSON.parse(a.body) as { version: string; port: number; env: Record<string, string> });
    assert.deepEqual([...new Set(bodies.map((b) => b.version))], ['v1']);
    assert.equal(new Set(bodies.map((b) => b.port)).size, 2, 'both processes get requests');
    // pyPaaS's proxy headers reach the app.
    const again = await web(httpPort, 'shop.test');
    assert.equal(again.status, 200);
    await assert.rejects(web(httpPort, 'nobody.test'), 'an unknown Host gets no answer');
  });

  test('static files are served from the release, pushed symlinks are not followed', async () => {
    const dir = path.join(inst.root, 'site');
    const env = gitEnv(inst.home);
    fs.mkdirSync(path.join(dir, 'public'), { recursive: true });
    await run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
    fs.writeFileSync(path.join(dir, 'public', 'index.html'), '<h1>static v1</h1>\n');
    fs.symlinkSync('/etc/passwd', path.join(dir, 'public', 'passwd'));
    fs.symlinkSync('index.html', path.join(dir, 'public', 'inner.html'));
    fs.symlinkSync('/etc', path.join(dir, 'etc'));
    await run('git', ['add', '-A'], { cwd: dir, env });
    await run('git', ['commit', '-qm', 'site'], { cwd: dir, env });
    const r = await inst.git(['push', `${inst.url}/site`, 'main'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`live at http://site\\.test:${httpPort}/ http://site\\.test:${httpPort}/sneaky/`));
    const index = await web(httpPort, 'site.test', '/');
    assert.equal(index.status, 200);
    assert.equal(index.body, '<h1>static v1</h1>\n');
    assert.match(String(index.headers['content-type']), /text\/html/);
    for (const p of ['/passwd', '/inner.html', '/sneaky/passwd', '/sneaky/hostname']) {
      const a = await web(httpPort, 'site.test', p);
      assert.ok(a.status === 403 || a.status === 404, `${p}: ${a.status} ${a.body.slice(0, 80)}`);
      assert.doesNotMatch(a.body, /root:/);
    }
  });

  test('status lists each domain with its URLs and the runner behind each location', async () => {
    const r = await inst.ssh('alice', ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^domain shop\\.test: http://shop\\.test:${httpPort}/$`, 'm'));
    assert.match(r.stdout, /^ {2}\/ -> shop\/main web \(NginxBackend, r1, ports \d+,\d+\)$/m);
    assert.match(r.stdout, /^ {2}\/sneaky\/ -> site\/main sneaky \(NginxStatic, r1\)$/m);
    const onlyShop = await inst.ssh('alice', ['status', 'shop']);
    assert.doesNotMatch(onlyShop.stdout, /site\.test/);
  });
});
