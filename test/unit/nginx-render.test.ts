import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config, DomainConfig, NginxSettings, RepoConfig } from '../../src/config/types.ts';
import type { CertificateSource } from '../../src/nginx/certificates.ts';
import { buildSite, type SiteModel, type TargetLookup } from '../../src/nginx/model.ts';
import { upstreamName } from '../../src/nginx/names.ts';
import { refusal } from '../../src/nginx/refusal.ts';
import { renderSite } from '../../src/nginx/render.ts';
import { DEFAULT_APP_LIMITS } from '../../src/config/schema.ts';

const NGINX: NginxSettings = { managed: true, address: '127.0.0.1', httpPort: 8080, httpsPort: 8443, testCmd: 'nginx -t', reloadCmd: 'nginx -s reload' };

function repo(name: string, branch: string): RepoConfig {
  const runner = (n: string, type: 'NginxBackend' | 'UwsgiNginxBackend' | 'NginxStatic', extra: object = {}) => ({ name: n, type, processCount: 1, cmd: 'x', ...extra });
  return {
    name,
    file: `repos/${name}.yml`,
    limits: DEFAULT_APP_LIMITS,
    branches: {
      [branch]: {
        name: branch,
        runners: { web: runner('web', 'NginxBackend', { nginxProxyPath: '/app', nginxExtraUpstreamConfig: 'keepalive 8;' }), py: runner('py', 'UwsgiNginxBackend'), files: runner('files', 'NginxStatic', { subdirectory: 'public' }) },
        env: {},
        hooks: { build: null, maintenance: [] },
        customCmds: {},
        keepReleases: 3,
      },
    },
  };
}

function domain(name: string, over: Partial<DomainConfig> = {}): DomainConfig {
  return {
    name,
    file: `domains/${name}.yml`,
    ssl: false,
    locations: [{ path: '/', upstream: { repo: 'shop', branch: 'main', runner: 'web' } }],
    sslCertificate: '/c.crt',
    sslCertificateKey: '/c.key',
    sslCertificateChain: '/chain.crt',
    ...over,
  };
}

function config(domains: DomainConfig[], branch = 'main'): Config {
  return {
    dir: '/cfg',
    mainFile: 'slipway.yml',
    global: { nginx: { ...NGINX }, drainSeconds: 5 } as unknown as Config['global'],
    repos: { shop: repo('shop', branch) },
    domains: Object.fromEntries(domains.map((d) => [d.name, d])),
    keys: [],
  };
}

const running: TargetLookup = (ref, runner) =>
  runner.type === 'NginxStatic' ? { kind: 'static', base: `/data/checkouts/${ref.repo}/r1`, root: `/data/checkouts/${ref.repo}/r1/public`, release: 'r1' } : { kind: 'ports', ports: [61000, 61001], release: 'r1' };
const nothing: TargetLookup = () => null;
const certs = (chain: string | null): CertificateSource => ({ lookup: (d) => ({ cert: { certificate: d.sslCertificate, key: d.sslCertificateKey, chain } }) });
const noCerts: CertificateSource = { lookup: () => ({ problem: { path: 'ssl_certificate', message: 'missing' } }) };

function site(c: Config, lookup = running, source = certs(null)): SiteModel {
  const r = buildSite(c, lookup, source);
  assert.ok('site' in r, 'problems' in r ? JSON.stringify(r.problems) : '');
  return r.site;
}

const files = (s: SiteModel) => Object.fromEntries(renderSite(s, { managed: { prefix: '/data/nginx', listen: { http: '127.0.0.1:8080', https: '127.0.0.1:8443' } } }).map((f) => [f.path, f.text]));

test('upstream names are pyPaaS names for plain branches, and unique tokens for branches with nginx syntax in them', () => {
  assert.equal(upstreamName({ repo: 'shop', branch: 'main', runner: 'web' }), 'backend_web-shop-main');
  const odd = upstreamName({ repo: 'shop', branch: 'feat;x{$y}', runner: 'web' });
  assert.match(odd, /^backend_web-shop-feat_x__y_-[0-9a-f]{8}$/);
  assert.notEqual(odd, upstreamName({ repo: 'shop', branch: 'feat_x__y_', runner: 'web' }));
  assert.notEqual(upstreamName({ repo: 'shop', branch: 'a/b', runner: 'web' }), upstreamName({ repo: 'shop', branch: 'a_b', runner: 'web' }));
});

test('a backend location proxies to an upstream of the release ports with the runner settings', () => {
  const out = files(site(config([domain('shop.test')])));
  assert.match(out['conf.d/upstream_backend_web-shop-main.conf']!, /upstream backend_web-shop-main \{\n {4}server 127\.0\.0\.1:61000;\n {4}server 127\.0\.0\.1:61001;\nkeepalive 8;\n\}/);
  const server = out['conf.d/shop.test.conf']!;
  assert.match(server, /listen 127\.0\.0\.1:8080;\n {4}server_name shop\.test;/);
  assert.match(server, /location \/ \{\n {8}proxy_pass http:\/\/backend_web-shop-main\/app;/);
  assert.match(server, /proxy_set_header X-Forwarded-Proto \$scheme;/);
  assert.match(out['nginx.conf']!, /include conf\.d\/\*\.conf;/);
  assert.match(out['nginx.conf']!, /pid \/data\/nginx\/nginx\.pid;/);
});

test('uwsgi and static bodies; static never follows links below the checkout', () => {
  const d = domain('mix.test', { locations: [{ path: '/py/', upstream: { repo: 'shop', branch: 'main', runner: 'py' } }, { path: '/s/', upstream: { repo: 'shop', branch: 'main', runner: 'files' }, nginxExtraConfig: 'expires 1h;' }] });
  const server = files(site(config([d])))['conf.d/mix.test.conf']!;
  assert.match(server, /location \/py\/ \{\n {8}include uwsgi_params;\n {8}uwsgi_pass backend_py-shop-main;/);
  assert.match(server, /alias \/data\/checkouts\/shop\/r1\/public\/;/);
  assert.match(server, /disable_symlinks on from=\/data\/checkouts\/shop\/r1;/);
  assert.match(server, /expires 1h;\n {4}\}/);
});

test('ssl: http only redirects, https carries certificate, TLS profile, and stapling only with a chain', () => {
  const d = domain('secure.test', { ssl: true });
  let server = files(site(config([d]), running, certs(null)))['conf.d/secure.test.conf']!;
  assert.match(server, /listen 127\.0\.0\.1:8080;\n {4}server_name secure\.test;\n {4}location \/ \{\n {8}return 301 https:\/\/\$host:8443\$request_uri;/);
  assert.match(server, /listen 127\.0\.0\.1:8443 ssl;/);
  assert.match(server, /ssl_certificate \/c\.crt;\n {4}ssl_certificate_key \/c\.key;/);
  assert.match(server, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  assert.match(server, /Strict-Transport-Security/);
  assert.doesNotMatch(server, /ssl_stapling/);
  server = files(site(config([d]), running, certs('/chain.crt')))['conf.d/secure.test.conf']!;
  assert.match(server, /ssl_trusted_certificate \/chain\.crt;\n {4}ssl_stapling on;/);
  assert.deepEqual(site(config([d])).domains[0]!.urls, ['https://secure.test:8443/']);
});

test('nothing running: the maintenance upstream answers, else 503', () => {
  const withMaint = domain('m.test', { locations: [{ path: '/', upstream: { repo: 'shop', branch: 'main', runner: 'web' }, maintenanceUpstream: { repo: 'shop', branch: 'main', runner: 'files' } }] });
  const onlyStatic: TargetLookup = (ref, runner) => (runner.type === 'NginxStatic' ? running(ref, runner) : { kind: 'ports', ports: [], release: 'r1' });
  const s = site(config([withMaint]), onlyStatic);
  assert.equal(s.domains[0]!.locations[0]!.serving?.maintenance, true);
  assert.match(files(s)['conf.d/m.test.conf']!, /alias \/data\/checkouts\/shop\/r1\/public\/;/);
  const none = site(config([domain('n.test')]), nothing);
  assert.equal(none.domains[0]!.locations[0]!.serving, null);
  assert.deepEqual(none.upstreams, []);
  assert.match(files(none)['conf.d/n.test.conf']!, /# nothing to serve: shop\/main web has no running release\n {8}return 503;/);
});

test('problems: missing certificates, duplicate names, a static folder nginx would misread', () => {
  const r = buildSite(config([domain('a.test', { ssl: true }), domain('A.test')]), running, noCerts);
  assert.ok('problems' in r);
  assert.deepEqual(r.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`), [
    "domains/a.test.yml: : server name 'a.test' is also served by domains/A.test.yml (nginx names ignore case; keep one file)",
    'domains/a.test.yml: ssl_certificate: missing',
  ]);
  const dollar: TargetLookup = () => ({ kind: 'static', base: '/data/checkouts/shop/a$b', root: '/data/checkouts/shop/a$b/public', release: 'r1' });
  const s = buildSite(config([domain('s.test', { locations: [{ path: '/', upstream: { repo: 'shop', branch: 'main', runner: 'files' } }] })]), dollar, certs(null));
  assert.ok('problems' in s);
  assert.match(s.problems[0]!.message, /holds a space, quote, ';', '\{', '\}', '\$'/);
});

test("nginx's complaint is quoted on one line and pinned to the config file that produced the generated file", () => {
  const out = 'nginx: [emerg] unknown directive "bogus" in /data/nginx/gen/17-ab/conf.d/shop.test.conf:14\nnginx: configuration file /data/nginx/gen/17-ab/nginx.conf test failed\n';
  const files = [{ path: 'conf.d/shop.test.conf', text: '', source: 'domains/shop.test.yml' }];
  assert.equal(refusal(out, '/data/nginx/gen/17-ab', files).message, 'domains/shop.test.yml: nginx refused the configuration: unknown directive "bogus" (generated shop.test.conf line 14)');
  assert.equal(refusal('nginx: [emerg] host not found in upstream "x"\n', '/d', files).message, 'nginx refused the configuration: [emerg] host not found in upstream "x"');
});
