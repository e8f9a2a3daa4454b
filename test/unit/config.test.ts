import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeStarterConfig } from '../../src/cli/init.ts';
import { loadConfig, type LoadResult } from '../../src/config/load.ts';
import { parseListen, parseSize } from '../../src/config/schema.ts';
import { formatProblem, type Config } from '../../src/config/types.ts';
import { UserError } from '../../src/lib/errors.ts';
import { mayLogIn } from '../../src/service/access.ts';

let tmp: string;
let keyA: string;
let keyB: string;
let dirCount = 0;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'slipway-config-'));
  keyA = generateKey('a');
  keyB = generateKey('b');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function generateKey(name: string): string {
  const file = join(tmp, `key-${name}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8');
}

/** A fresh config dir holding `files` (relative path → text). */
function configDir(files: Record<string, string>): string {
  const dir = join(tmp, `config-${++dirCount}`);
  mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

function load(files: Record<string, string>): LoadResult {
  return loadConfig(configDir(files));
}

function configOf(files: Record<string, string>): Config {
  const result = load(files);
  assert.ok('config' in result, 'problems' in result ? result.problems.map(formatProblem).join('\n') : '');
  return result.config;
}

function problemsOf(files: Record<string, string>): string[] {
  const result = load(files);
  assert.ok('problems' in result, 'expected problems, the config loaded');
  return result.problems.map(formatProblem);
}

function warningsOf(files: Record<string, string>): string[] {
  return load(files).warnings.map(formatProblem);
}

const HELLO = `
branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js}
      static: {type: NginxStatic, subdirectory: public}
      worker: {type: SimpleProcess, cmd: node worker.js}
`;

/** A repo file with one runner `web` holding `runnerYaml` (flow-style mapping body). */
function runnerRepo(runnerYaml: string): Record<string, string> {
  return { 'repos/hello.yml': `branches:\n  main:\n    runners:\n      web: {${runnerYaml}}\n`, 'keys/alice.pub': keyA };
}

// ---------------------------------------------------------------- pyPaaS compatibility

const PYPAAS_YML = `---
ports: # Port range to use for nginx upstreams
  min: 61500
  max: 61800
runner_runscript_template: |
  #!/bin/sh
  cd {checkout.path}
  {env_cmds}
  exec 2>&1
  exec {cmd}
runner_logscript_template: |
  #!/bin/sh
  exec multilog t ./main
deploy_logger_cmd: /usr/bin/logger -t pypaas -p local3.info
`;

const PYPAAS_REPO = `---
branches:
    master:
        runners:
            node:
                type: NginxBackend
                cmd: npm start
                process_count: 4 # defaults to 1
                nginx_extra_config: |
                    gzip off;
                nginx_extra_upstream_config: |
                    keepalive 32;
                nginx_proxy_path: /app
            static:
                type: NginxStatic
                subdirectory: /public/
            background_worker:
                type: SimpleProcess
                cmd: node
        env:
            NODE_ENV: production
            VERSION: 1.10
            DEBUG: yes
            WORKERS: 4
        hooks:
            build: if [ -f ./.build.sh ]; then ./.build.sh; fi
            maintenance:
                - 'echo "do backup"'
                - 'echo "run migrations"'
        custom_cmds:
            npm_list: npm list
    staging/next:
        runners:
            uwsgi: {type: UwsgiNginxBackend, cmd: uwsgi app.ini}
`;

const PYPAAS_DOMAIN = `---
locations:
    "/":
        upstream:
            repo: node-js-sample
            branch: master
            runner: node
        maintenance_upstream: {repo: node-js-sample, branch: master, runner: static}
    "/public":
        upstream: {repo: node-js-sample, branch: master, runner: static}
        nginx_extra_config: expires 1d;
    "~ ^/api":
        upstream: {repo: node-js-sample, branch: staging/next, runner: uwsgi}
nginx_http_extra_config: |
    gzip on;
ssl: no
`;

test('a pyPaaS config dir (pypaas.yml, repos/, domains/, keys) loads unchanged', () => {
  const result = load({
    'pypaas.yml': PYPAAS_YML,
    'repos/node-js-sample.yml': PYPAAS_REPO,
    'domains/node-js-sample.example.com.yml': PYPAAS_DOMAIN,
    'keys/alice.pub': keyA,
    'keys/bob': keyB,
  });
  assert.ok('config' in result, 'problems' in result ? result.problems.map(formatProblem).join('\n') : '');
  const { config, warnings } = result;
  assert.equal(config.mainFile, 'pypaas.yml');
  assert.deepEqual(config.global.ports, { min: 61500, max: 61800 });
  assert.deepEqual(config.global.listen, { host: '0.0.0.0', port: 2222 });
  assert.equal(config.global.deployLoggerCmd, '/usr/bin/logger -t pypaas -p local3.info');
  assert.equal(config.global.users, null);
  assert.deepEqual(warnings.map(formatProblem), [
    'pypaas.yml: runner_runscript_template: ignored: slipway supervises processes itself (no daemontools run scripts)',
    'pypaas.yml: runner_logscript_template: ignored: slipway supervises processes itself (no daemontools run scripts)',
  ]);

  const master = config.repos['node-js-sample']!.branches['master']!;
  assert.deepEqual(master.runners['node'], {
    name: 'node',
    type: 'NginxBackend',
    cmd: 'npm start',
    processCount: 4,
    subdirectory: undefined,
    nginxExtraConfig: 'gzip off;\n',
    nginxExtraUpstreamConfig: 'keepalive 32;\n',
    nginxProxyPath: '/app',
    healthcheck: undefined,
  });
  assert.equal(master.runners['static']!.subdirectory, 'public');
  assert.equal(master.runners['background_worker']!.processCount, 1);
  assert.deepEqual({ ...master.env }, { NODE_ENV: 'production', VERSION: '1.10', DEBUG: 'yes', WORKERS: '4' });
  assert.deepEqual(master.hooks, { build: ['if [ -f ./.build.sh ]; then ./.build.sh; fi'], maintenance: ['echo "do backup"', 'echo "run migrations"'] });
  assert.deepEqual({ ...master.customCmds }, { npm_list: 'npm list' });
  assert.equal(master.keepReleases, 3);
  assert.equal(config.repos['node-js-sample']!.branches['staging/next']!.runners['uwsgi']!.type, 'UwsgiNginxBackend');

  const domain = config.domains['node-js-sample.example.com']!;
  assert.equal(domain.ssl, false);
  assert.deepEqual(domain.locations.map((l) => l.path), ['/', '/public', '~ ^/api']);
  assert.deepEqual(domain.locations[0]!.maintenanceUpstream, { repo: 'node-js-sample', branch: 'master', runner: 'static' });
  assert.equal(domain.locations[1]!.nginxExtraConfig, 'expires 1d;');
  assert.equal(domain.sslCertificate, '/etc/ssl/private/httpd/node-js-sample.example.com/node-js-sample.example.com.crt');
  assert.equal(domain.sslCertificateKey, '/etc/ssl/private/httpd/node-js-sample.example.com/node-js-sample.example.com.key');
  assert.equal(domain.sslCertificateChain, '/etc/ssl/private/httpd/node-js-sample.example.com/trusted_chain.crt');
  assert.deepEqual(config.keys.map((k) => [k.user, k.source]), [['alice', 'keys/alice.pub:1'], ['bob', 'keys/bob:1']]);
});

test('YAML merge keys work as in PyYAML, x- keys hold anchors, env values keep their written text', () => {
  const config = configOf({
    'repos/app.yml': 'x-common: &common\n  A: 1.10\n  B: 0755\nbranches:\n  main:\n    env:\n      <<: *common\n      C: true\n      D: 1e3\n',
  });
  assert.deepEqual({ ...config.repos['app']!.branches['main']!.env }, { A: '1.10', B: '0755', C: 'true', D: '1e3' });
});

// ---------------------------------------------------------------- main file

test('a dir without a main file gets every default', () => {
  const config = configOf({ 'keys/alice.pub': keyA });
  assert.equal(config.mainFile, 'slipway.yml');
  assert.deepEqual(config.global, {
    listen: { host: '0.0.0.0', port: 2222 },
    ports: { min: 61000, max: 62000 },
    limits: {
      maxConnections: 64,
      maxUnauthenticated: 100,
      maxUnauthenticatedPerSource: 10,
      penaltyMs: 5000,
      penaltyMaxMs: 600_000,
      maxAuthAttempts: 6,
      handshakeTimeoutMs: 20_000,
      idleTimeoutMs: 600_000,
      maxPackBytes: 1024 ** 3,
      maxSessionsPerConnection: 10,
      maxObjectBytes: 256 * 1024 ** 2,
      maxDeltaDepth: 4095,
      maxPushInflatedBytes: 8 * 1024 ** 3,
      maxRefsPerPush: 10_000,
      maxRefsPerRepo: 100_000,
      maxMessageBytes: 1024 ** 2,
      maxTreeEntries: 100_000,
      maxCheckoutFiles: 200_000,
      maxCheckoutBytes: 2 * 1024 ** 3,
      maxConnectionsPerUser: 10,
      maxSessionsPerUser: 10,
    },
    ssh: { rsaSha1Signatures: false, ecdsaHostKey: false },
    logs: { maxBytes: 10 * 1024 ** 2, keep: 5 },
    gc: { graceMs: 14 * 86_400_000, autoPacks: 16, autoLoose: 1000 },
    isolation: undefined,
    appLimits: { processes: 512, openFiles: 4096, memoryBytes: 4 * 1024 ** 3, buildTimeoutMs: 1_800_000 },
    keepReleases: 3,
    drainSeconds: 5,
    watchConfig: true,
    nginx: { managed: true, address: undefined, httpPort: 80, httpsPort: 443, confDir: undefined, testCmd: 'nginx -t', reloadCmd: 'nginx -s reload', templates: undefined, binary: undefined },
    deployLoggerCmd: undefined,
    sslConfig: undefined,
    users: null,
  });
  assert.deepEqual(Object.keys(config.repos), []);
  assert.deepEqual(Object.keys(config.domains), []);
});

test('an empty slipway.yml also means all defaults', () => {
  assert.equal(configOf({ 'slipway.yml': '# nothing yet\n' }).global.keepReleases, 3);
});

test('a missing config dir is a problem', () => {
  const missing = join(tmp, 'does-not-exist');
  assert.deepEqual(loadConfig(missing), {
    problems: [{ file: missing, path: '', message: 'config directory not found (expected a directory holding slipway.yml or pypaas.yml)' }],
    warnings: [],
  });
});

test('slipway.yml and pypaas.yml together are a problem', () => {
  assert.deepEqual(problemsOf({ 'slipway.yml': '', 'pypaas.yml': '' }), [
    'pypaas.yml: both slipway.yml and pypaas.yml exist (keep one; slipway.yml is read)',
  ]);
});

test('listen, ports, keep_releases, limits and ssl_config are typed with their units', () => {
  const config = configOf({
    'slipway.yml': `
listen: "127.0.0.1:0"
ports: {min: 3000, max: 3010}
keep_releases: 5
deploy_logger_cmd: logger -t slipway
ssl_config: ssl_protocols TLSv1.3;
limits:
  max_connections: 8
  max_unauthenticated: 20
  max_unauthenticated_per_source: 4
  penalty: 0.5
  penalty_max: 60
  max_auth_attempts: 2
  handshake_timeout: 1.5
  idle_timeout: 60
  max_pack_size: 100MB
  max_sessions_per_connection: 3
  max_object_size: 64MiB
  max_delta_depth: 50
  max_push_inflated: 1GiB
  max_refs_per_push: 100
  max_refs_per_repo: 1000
  max_message_size: 64k
  max_tree_entries: 5000
  max_checkout_files: 2000
  max_checkout_size: 100MB
  max_connections_per_user: 4
  max_sessions_per_user: 5
`,
  });
  assert.deepEqual(config.global.listen, { host: '127.0.0.1', port: 0 });
  assert.deepEqual(config.global.ports, { min: 3000, max: 3010 });
  assert.equal(config.global.keepReleases, 5);
  assert.equal(config.global.deployLoggerCmd, 'logger -t slipway');
  assert.equal(config.global.sslConfig, 'ssl_protocols TLSv1.3;');
  assert.deepEqual(config.global.limits, {
    maxConnections: 8,
    maxUnauthenticated: 20,
    maxUnauthenticatedPerSource: 4,
    penaltyMs: 500,
    penaltyMaxMs: 60_000,
    maxAuthAttempts: 2,
    handshakeTimeoutMs: 1500,
    idleTimeoutMs: 60_000,
    maxPackBytes: 100_000_000,
    maxSessionsPerConnection: 3,
    maxObjectBytes: 64 * 1024 ** 2,
    maxDeltaDepth: 50,
    maxPushInflatedBytes: 1024 ** 3,
    maxRefsPerPush: 100,
    maxRefsPerRepo: 1000,
    maxMessageBytes: 64 * 1024,
    maxTreeEntries: 5000,
    maxCheckoutFiles: 2000,
    maxCheckoutBytes: 100_000_000,
    maxConnectionsPerUser: 4,
    maxSessionsPerUser: 5,
  });
});

test('limits.max_delta_depth stays within what the object store reads back', () => {
  assert.deepEqual(problemsOf({ 'slipway.yml': 'limits:\n  max_delta_depth: 20000\n' }), [
    'slipway.yml: limits.max_delta_depth: got 20000 (expected a whole number from 1 to 10000)',
  ]);
});

test('ssh: switches for old clients are booleans (YAML 1.1 yes/no too), off by default', () => {
  assert.deepEqual(configOf({ 'slipway.yml': 'ssh:\n  rsa_sha1_signatures: yes\n  ecdsa_host_key: true\n' }).global.ssh, { rsaSha1Signatures: true, ecdsaHostKey: true });
  assert.deepEqual(configOf({ 'slipway.yml': 'ssh:\n' }).global.ssh, { rsaSha1Signatures: false, ecdsaHostKey: false });
  assert.deepEqual(problemsOf({ 'slipway.yml': 'ssh:\n  rsa_sha1_signatures: sometimes\n  ecdsa: true\n' }), [
    "slipway.yml: ssh.rsa_sha1_signatures: got 'sometimes' (expected true or false)",
    'slipway.yml: ssh.ecdsa: unknown key (expected rsa_sha1_signatures, ecdsa_host_key)',
  ]);
});

test('listen accepts HOST:PORT, [IPv6]:PORT and a bare port', () => {
  assert.deepEqual(parseListen(2222), { host: '0.0.0.0', port: 2222 });
  assert.deepEqual(parseListen('2200'), { host: '0.0.0.0', port: 2200 });
  assert.deepEqual(parseListen('[::1]:22'), { host: '::1', port: 22 });
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.equal(parseListen('host:70000'), null);
  assert.equal(parseListen('::1:22'), null);
  assert.equal(parseListen(22.5), null);
});

test('sizes: MB is decimal, MiB and a bare k/M/G are binary', () => {
  assert.equal(parseSize(1234), 1234);
  assert.equal(parseSize('100MB'), 100_000_000);
  assert.equal(parseSize('100MiB'), 100 * 1024 ** 2);
  assert.equal(parseSize('1GiB'), 1024 ** 3);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('512k'), 512 * 1024);
  assert.equal(parseSize('512K'), 512 * 1024);
  assert.equal(parseSize('2kB'), 2000);
  assert.equal(parseSize('1.5 GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('10 B'), 10);
  assert.equal(parseSize('lots'), null);
  assert.equal(parseSize('0'), null);
  assert.equal(parseSize('5XB'), null);
});

test('bad values in the main file give one exact line each', () => {
  const got = problemsOf({
    'slipway.yml': `
listen: "everywhere"
lisen: 2222
ports: {min: 70000, max: 61000}
keep_releases: 0
limits:
  max_pack_size: lots
  handshake_timeout: -1
  max_conections: 3
`,
  });
  // The list of limits grows with every bound; the line names them all, in the schema's order.
  const unknownLimit = got.find((l) => l.startsWith('slipway.yml: limits.max_conections:'));
  assert.match(unknownLimit ?? '', /^slipway\.yml: limits\.max_conections: unknown key \(expected max_connections, max_unauthenticated, max_unauthenticated_per_source, penalty, .*\bmax_sessions_per_connection\b.*\)$/);
  assert.deepEqual(got.filter((l) => l !== unknownLimit), [
    "slipway.yml: listen: got 'everywhere' (expected 'HOST:PORT' or a port number from 0 to 65535; 0 picks a free port)",
    'slipway.yml: ports.min: got 70000 (expected a port number from 1 to 65535)',
    'slipway.yml: keep_releases: got 0 (expected a whole number, 1 or more)',
    'slipway.yml: limits.handshake_timeout: got -1 (expected a number of seconds above 0)',
    "slipway.yml: limits.max_pack_size: got 'lots' (expected a size in bytes or like '100MB', '1GiB', '512k')",
    'slipway.yml: lisen: unknown key (expected listen, ports, keep_releases, drain_seconds, watch_config, nginx, deploy_logger_cmd, ssl_config, limits, ssh, logs, gc, isolation, app_limits, users, runner_runscript_template, runner_logscript_template)',
  ]);
});

test('ports must be ordered and leave out the listen port', () => {
  assert.deepEqual(problemsOf({ 'slipway.yml': 'ports: {min: 5000, max: 5000}\n' }), [
    'slipway.yml: ports.max: 5000 is not above min 5000 (expected min < max; max is exclusive)',
  ]);
  assert.deepEqual(problemsOf({ 'slipway.yml': 'listen: 5005\nports: {min: 5000, max: 5010}\n' }), [
    'slipway.yml: ports: the range 5000-5009 holds the listen port 5005 (expected a range without it)',
  ]);
  assert.deepEqual(problemsOf({ 'slipway.yml': 'ports: {min: 5000}\n' }), [
    "slipway.yml: ports: missing 'max' (expected a port number from 1 to 65535)",
  ]);
});

test('a YAML syntax error is one line with its line number', () => {
  assert.deepEqual(problemsOf({ 'slipway.yml': 'listen: 2222\nports:\n  min: 1\n max: 2\n' }), [
    'slipway.yml: line 4: invalid YAML: bad indentation of a mapping entry (fix the syntax)',
  ]);
  assert.deepEqual(problemsOf({ 'repos/hello.yml': 'branches:\n  main: {\n' }), [
    'repos/hello.yml: line 3: invalid YAML: deficient indentation (fix the syntax)',
  ]);
});

// ---------------------------------------------------------------- users and keys

test('users map names to admin, deploy and read roles', () => {
  const config = configOf({
    'slipway.yml': 'users:\n  alice: admin\n  bob: {deploy: [hello]}\n  carol:\n    read: [hello]\n',
    'repos/hello.yml': HELLO,
    'keys/alice.pub': keyA,
    'keys/bob.pub': keyB,
    'keys/carol.pub': generateKey('carol'),
  });
  assert.deepEqual({ ...config.global.users }, {
    alice: { kind: 'admin' },
    bob: { kind: 'deploy', repos: ['hello'] },
    carol: { kind: 'read', repos: ['hello'] },
  });
});

test('bad roles and unknown repos in roles are problems', () => {
  assert.deepEqual(problemsOf({
    'slipway.yml': 'users:\n  alice: Admin\n  bob: {deploy: [hello, nope]}\n  carol: {write: [hello]}\n',
    'repos/hello.yml': HELLO,
    'keys/alice.pub': keyA,
  }), [
    "slipway.yml: users.alice: got 'Admin' (expected admin, {deploy: [repo, …]} or {read: [repo, …]})",
    'slipway.yml: users.carol: got a mapping (expected admin, {deploy: [repo, …]} or {read: [repo, …]})',
  ]);
  assert.deepEqual(problemsOf({
    'slipway.yml': 'users:\n  bob: {deploy: [hello, nope]}\n',
    'repos/hello.yml': HELLO,
    'keys/bob.pub': keyB,
  }), ["slipway.yml: users.bob.deploy: unknown repo 'nope' (configured: hello)"]);
});

test('a listed user without a key and a key of an unlisted user are warnings; that key may not log in', () => {
  const result = load({
    'slipway.yml': 'users:\n  alice: admin\n  carol: admin\n',
    'keys/alice.pub': keyA,
    'keys/dave.pub': keyB,
  });
  assert.ok('config' in result);
  assert.deepEqual(result.warnings.map(formatProblem), [
    'slipway.yml: users.carol: no key for carol (expected keys/carol.pub; carol cannot log in)',
    "keys/dave.pub: user 'dave' is not listed in users (their keys will be refused)",
  ]);
  // The loader keeps every key; access.ts decides who may log in.
  assert.deepEqual(result.config.keys.map((k) => k.user), ['alice', 'dave']);
  assert.deepEqual(result.config.keys.filter((k) => mayLogIn(result.config, k.user)).map((k) => k.user), ['alice']);
});

test('an empty users section refuses everybody rather than making everybody admin', () => {
  const result = load({ 'slipway.yml': 'users:\n', 'keys/alice.pub': keyA });
  assert.ok('config' in result);
  assert.deepEqual(Object.keys(result.config.global.users!), []);
  assert.deepEqual(result.config.keys.filter((k) => mayLogIn(result.config, k.user)), []);
  assert.ok(result.warnings.map(formatProblem).includes('slipway.yml: users: no users listed (every key will be refused)'));
});

test('a missing keys dir is a warning that nobody can log in', () => {
  assert.deepEqual(warningsOf({}), ['keys/: no keys: nobody can log in (expected keys/<user>.pub files)']);
});

test('the same key in two users\' files is a problem naming both files', () => {
  assert.deepEqual(problemsOf({ 'keys/alice.pub': keyA, 'keys/bob.pub': `# bob\n${keyA}` }), [
    'keys/bob.pub: line 2: this key is also in keys/alice.pub:1 (user alice; a key must belong to one user)',
  ]);
});

test('key files: dot files are skipped, bad lines are problems with file and line', () => {
  assert.deepEqual(problemsOf({ 'keys/.alice.pub.swp': 'junk', 'keys/alice.pub': `${keyA}ssh-ed25519\n` }), [
    "keys/alice.pub: line 2: not an OpenSSH public key (expected 'ssh-ed25519 AAAA… comment')",
  ]);
});

test('names like constructor or __proto__ find nothing: lookups never reach Object.prototype', () => {
  const result = load({
    'slipway.yml': 'users:\n  alice: admin\n',
    'repos/hello.yml': HELLO,
    'keys/alice.pub': keyA,
    'keys/constructor.pub': keyB,
  });
  assert.ok('config' in result);
  const { config } = result;
  assert.deepEqual(config.keys.filter((k) => mayLogIn(config, k.user)).map((k) => k.user), ['alice']);
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    assert.equal(config.repos[name], undefined);
    assert.equal(config.global.users![name], undefined);
    const main = config.repos['hello']!.branches['main']!;
    assert.equal(config.repos['hello']!.branches[name], undefined);
    assert.equal(main.runners[name], undefined);
    assert.equal(main.customCmds[name], undefined);
    assert.equal(main.env[name], undefined);
  }
});

// ---------------------------------------------------------------- repos

test('runner type, cmd, names and numbers give one exact line each', () => {
  assert.deepEqual(problemsOf(runnerRepo('type: Foo, cmd: x')), [
    "repos/hello.yml: branches.main.runners.web.type: unknown runner type 'Foo' (expected SimpleProcess, NginxBackend, UwsgiNginxBackend, NginxStatic)",
  ]);
  assert.deepEqual(problemsOf(runnerRepo('cmd: x')), [
    "repos/hello.yml: branches.main.runners.web: missing 'type' (expected SimpleProcess, NginxBackend, UwsgiNginxBackend, NginxStatic)",
  ]);
  assert.deepEqual(problemsOf(runnerRepo('type: NginxBackend')), [
    "repos/hello.yml: branches.main.runners.web: missing 'cmd' (the command that starts the process)",
  ]);
  assert.deepEqual(problemsOf(runnerRepo('type: SimpleProcess, cmd: x, process_count: 0, comand: y')), [
    'repos/hello.yml: branches.main.runners.web.process_count: got 0 (expected a whole number, 1 or more)',
    'repos/hello.yml: branches.main.runners.web.comand: unknown key (expected type, cmd, process_count, subdirectory, nginx_extra_config, nginx_extra_upstream_config, nginx_proxy_path, healthcheck)',
  ]);
  assert.deepEqual(problemsOf({ 'repos/hello.yml': 'branches:\n  main:\n    runners:\n      web.1: {type: NginxStatic}\n' }), [
    "repos/hello.yml: branches.main.runners.web.1: invalid runner name 'web.1' (expected letters, digits, '_' and '-', starting with a letter or digit)",
  ]);
});

test('NginxStatic needs no cmd and its subdirectory must stay in the checkout', () => {
  assert.equal(configOf(runnerRepo('type: NginxStatic, subdirectory: ./dist/site/')).repos['hello']!.branches['main']!.runners['web']!.subdirectory, 'dist/site');
  assert.deepEqual(problemsOf(runnerRepo('type: NginxStatic, subdirectory: ../../etc')), [
    "repos/hello.yml: branches.main.runners.web.subdirectory: '../../etc' leaves the checkout (expected a folder inside it, without '..')",
  ]);
});

test('healthcheck: path starts with /, timeout defaults to 30 s, only on NginxBackend', () => {
  const runner = configOf(runnerRepo('type: NginxBackend, cmd: x, healthcheck: {path: /health}')).repos['hello']!.branches['main']!.runners['web']!;
  assert.deepEqual(runner.healthcheck, { path: '/health', timeout: 30 });
  assert.deepEqual(problemsOf(runnerRepo('type: NginxBackend, cmd: x, healthcheck: {path: health, timeout: 0}')), [
    "repos/hello.yml: branches.main.runners.web.healthcheck.path: got 'health' (expected a URL path starting with '/')",
    'repos/hello.yml: branches.main.runners.web.healthcheck.timeout: got 0 (expected a number of seconds above 0)',
  ]);
  assert.deepEqual(problemsOf(runnerRepo('type: SimpleProcess, cmd: x, healthcheck: {path: /}')), [
    'repos/hello.yml: branches.main.runners.web.healthcheck: a SimpleProcess runner cannot be health-checked (expected only on NginxBackend runners, which speak HTTP)',
  ]);
});

test('branch names follow git rules; slashes inside are fine', () => {
  const config = configOf({ 'repos/hello.yml': 'branches:\n  feature/x:\n  main: {}\n' });
  assert.deepEqual(Object.keys(config.repos['hello']!.branches), ['feature/x', 'main']);
  const bad = ['a..b', '-x', '/x', 'x/', 'x.lock', 'a b', 'a~1', 'x@{1}', 'a//b', 'x.', '.hidden', 'a/.b'];
  const problems = problemsOf({ 'repos/hello.yml': `branches:\n${bad.map((b) => `  "${b}": {}\n`).join('')}` });
  assert.equal(problems.length, bad.length);
  assert.equal(problems[0], "repos/hello.yml: branches.a..b: invalid branch name 'a..b': contains '..' (expected a valid git branch name)");
  assert.equal(problems[1], "repos/hello.yml: branches.-x: invalid branch name '-x': starts with '-' (expected a valid git branch name)");
});

test('a branch key YAML would read as a number or null is an error saying to quote it; quoted, it is the name as written', () => {
  const problems = problemsOf({ 'repos/express.yml': 'branches:\n  master: {}\n  5.0: {}\n  0x10: {}\n  ~: {}\n' });
  assert.deepEqual(problems, [
    "repos/express.yml: branches.5.0: YAML reads the branch name 5.0 as the number 5, not as written (quote it: '5.0':)",
    "repos/express.yml: branches.0x10: YAML reads the branch name 0x10 as the number 16, not as written (quote it: '0x10':)",
    "repos/express.yml: branches.~: YAML reads the branch name ~ as null, not as written (quote it: '~':)",
  ]);
  const config = configOf({ 'repos/express.yml': "branches:\n  master: {}\n  '5.0': {}\n  \"4.x\": {}\n  true: {}\n" });
  assert.deepEqual(Object.keys(config.repos['express']!.branches).sort(), ['4.x', '5.0', 'master', 'true']);
});

test('a branch gets env, hooks, custom commands and keep_releases with defaults', () => {
  const config = configOf({
    'slipway.yml': 'keep_releases: 4\n',
    'repos/hello.yml': 'branches:\n  main:\n    keep_releases: 2\n    hooks: {build: [npm ci, npm run build]}\n  dev:\n    env:\n    hooks:\n      maintenance: ./migrate\n',
  });
  const main = config.repos['hello']!.branches['main'];
  const dev = config.repos['hello']!.branches['dev'];
  assert.deepEqual(main!.hooks, { build: ['npm ci', 'npm run build'], maintenance: [] });
  assert.equal(main!.keepReleases, 2);
  assert.deepEqual(Object.keys(main!.runners), []);
  assert.deepEqual(dev!.hooks, { build: null, maintenance: ['./migrate'] });
  assert.deepEqual(Object.keys(dev!.env), []);
  assert.equal(dev!.keepReleases, 4);
});

test('env values must be scalars with valid names; hooks must be commands', () => {
  assert.deepEqual(problemsOf({
    'repos/hello.yml': 'branches:\n  main:\n    env:\n      LIST: [1, 2]\n      EMPTY:\n      1BAD: x\n    hooks:\n      build: {run: x}\n    custom_cmds:\n      "two words": x\n',
  }), [
    "repos/hello.yml: branches.main.env.LIST: got a list (expected a string, number or boolean)",
    "repos/hello.yml: branches.main.env.EMPTY: got an empty value (expected a string, number or boolean)",
    "repos/hello.yml: branches.main.env.1BAD: invalid variable name '1BAD' (expected letters, digits and '_', not starting with a digit)",
    'repos/hello.yml: branches.main.hooks.build: got a mapping (expected a command or a list of commands)',
    "repos/hello.yml: branches.main.custom_cmds.two words: invalid command name 'two words' (expected one word, not starting with '-')",
  ]);
});

test('repo files: bad names, no branches, and .yml plus .yaml for one repo are problems', () => {
  assert.deepEqual(problemsOf({ 'repos/site.git.yml': HELLO, 'repos/-x.yaml': HELLO }), [
    "repos/-x.yaml: invalid repo name '-x' (expected letters, digits, '.', '_' and '-', starting with a letter or digit, not ending in .git)",
    "repos/site.git.yml: invalid repo name 'site.git' (expected letters, digits, '.', '_' and '-', starting with a letter or digit, not ending in .git)",
  ]);
  assert.deepEqual(problemsOf({ 'repos/empty.yml': '', 'repos/none.yml': 'branches: {}\n' }), [
    "repos/empty.yml: no branches configured (expected 'branches:' with at least one branch)",
    "repos/none.yml: no branches configured (expected 'branches:' with at least one branch)",
  ]);
  assert.deepEqual(problemsOf({ 'repos/hello.yml': HELLO, 'repos/hello.yaml': HELLO }), [
    "repos/hello.yml: 'hello' is also defined in repos/hello.yaml (keep one file)",
  ]);
  assert.deepEqual(Object.keys(configOf({ 'repos/api.yaml': HELLO, 'repos/README.md': 'x' }).repos), ['api']);
});

// ---------------------------------------------------------------- domains

test('domain defaults: ssl on, certificates under /etc/ssl/private/httpd/<domain>/, global ssl_config', () => {
  const config = configOf({
    'slipway.yml': 'ssl_config: ssl_protocols TLSv1.3;\n',
    'repos/hello.yml': HELLO,
    'domains/example.com.yml': 'locations:\n  /: {upstream: {repo: hello, branch: main, runner: web}}\nextra_listen_options: reuseport\n',
    'domains/other.org.yml': 'locations:\n  /: {upstream: {repo: hello, branch: main, runner: static}}\nssl: Off\nssl_config: own;\nssl_certificate: /c.crt\n',
  });
  const example = config.domains['example.com']!;
  assert.deepEqual({ ...example, locations: undefined }, {
    name: 'example.com',
    file: 'domains/example.com.yml',
    locations: undefined,
    ssl: true,
    nginxHttpExtraConfig: undefined,
    nginxHttpsExtraConfig: undefined,
    extraListenOptions: 'reuseport',
    sslCertificate: '/etc/ssl/private/httpd/example.com/example.com.crt',
    sslCertificateKey: '/etc/ssl/private/httpd/example.com/example.com.key',
    sslCertificateChain: '/etc/ssl/private/httpd/example.com/trusted_chain.crt',
    sslConfig: 'ssl_protocols TLSv1.3;',
  });
  const other = config.domains['other.org']!;
  assert.equal(other.ssl, false);
  assert.equal(other.sslConfig, 'own;');
  assert.equal(other.sslCertificate, '/c.crt');
});

test('a location needs a complete upstream, and ssl must be a boolean', () => {
  assert.deepEqual(problemsOf({
    'repos/hello.yml': HELLO,
    'domains/example.com.yml': `
locations:
  /d: {upstream: {repo: hello, branch: main}}
  /e: {}
ssl: maybe
`,
  }), [
    "domains/example.com.yml: locations./d.upstream: missing 'runner' (expected a string)",
    "domains/example.com.yml: locations./e: missing 'upstream' (expected a mapping)",
    "domains/example.com.yml: ssl: got 'maybe' (expected true or false)",
  ]);
});

test('a location must point at an existing nginx runner: one problem each', () => {
  assert.deepEqual(problemsOf({
    'repos/hello.yml': HELLO,
    'repos/api.yml': 'branches:\n  main:\n',
    'domains/example.com.yml': `
locations:
  /: {upstream: {repo: nope, branch: main, runner: web}}
  /a: {upstream: {repo: hello, branch: dev, runner: web}}
  /b: {upstream: {repo: hello, branch: main, runner: db}}
  /c:
    upstream: {repo: hello, branch: main, runner: worker}
    maintenance_upstream: {repo: api, branch: main, runner: web}
`,
  }), [
    "domains/example.com.yml: locations./.upstream.repo: unknown repo 'nope' (configured: api, hello)",
    "domains/example.com.yml: locations./a.upstream.branch: unknown branch 'dev' of repo 'hello' (configured: main)",
    "domains/example.com.yml: locations./b.upstream.runner: unknown runner 'db' in hello main (configured: web, static, worker)",
    "domains/example.com.yml: locations./c.upstream.runner: runner 'worker' is a SimpleProcess, which nginx cannot serve (expected an NginxBackend, UwsgiNginxBackend or NginxStatic runner)",
    "domains/example.com.yml: locations./c.maintenance_upstream.runner: unknown runner 'web' in api main (configured: none)",
  ]);
});

test('a domain pointing into a broken repo file is not reported twice', () => {
  assert.deepEqual(problemsOf({
    'repos/hello.yml': 'branches:\n  main:\n    runners:\n      web: {type: Nginx}\n',
    'domains/example.com.yml': 'locations:\n  /: {upstream: {repo: hello, branch: main, runner: web}}\n',
  }), [
    "repos/hello.yml: branches.main.runners.web.type: unknown runner type 'Nginx' (expected SimpleProcess, NginxBackend, UwsgiNginxBackend, NginxStatic)",
  ]);
});

test('domain files: no locations and bad names are problems', () => {
  assert.deepEqual(problemsOf({ 'domains/example.com.yml': 'ssl: false\n', 'domains/bad name.yml': 'locations: {}\n' }), [
    "domains/bad name.yml: invalid domain name 'bad name' (expected a host name like example.com or *.example.com)",
    "domains/bad name.yml: no locations configured (expected 'locations:' with at least one path)",
    "domains/example.com.yml: no locations configured (expected 'locations:' with at least one path)",
  ]);
});

// ---------------------------------------------------------------- all at once

test('problems in several files are all reported, never only the first', () => {
  const problems = problemsOf({
    'slipway.yml': 'keep_releases: none\n',
    'repos/a.yml': 'branches:\n  main:\n    runners:\n      web: {type: Foo}\n      api: {type: NginxBackend}\n',
    'repos/b.yml': 'branches: [main]\n',
    'domains/example.com.yml': 'locations:\n  /: {upstream: {repo: zzz, branch: main, runner: web}}\n',
    'keys/alice.pub': 'not a key\n',
  });
  assert.deepEqual(problems, [
    "slipway.yml: keep_releases: got 'none' (expected a whole number, 1 or more)",
    "repos/a.yml: branches.main.runners.web.type: unknown runner type 'Foo' (expected SimpleProcess, NginxBackend, UwsgiNginxBackend, NginxStatic)",
    "repos/a.yml: branches.main.runners.api: missing 'cmd' (the command that starts the process)",
    'repos/b.yml: branches: got a list (expected a mapping)',
    "domains/example.com.yml: locations./.upstream.repo: unknown repo 'zzz' (configured: none)",
    "keys/alice.pub: line 1: not an OpenSSH public key (expected 'ssh-ed25519 AAAA… comment')",
  ]);
});

test('input that is not a mapping at all is a problem, not a crash', () => {
  assert.deepEqual(problemsOf({ 'slipway.yml': '- a\n- b\n', 'repos/x.yml': '42\n', 'domains/d.yml': '---\na: 1\n---\nb: 2\n' }), [
    'slipway.yml: got a list (expected a mapping)',
    'repos/x.yml: got 42 (expected a mapping)',
    'domains/d.yml: holds 2 YAML documents (expected one)',
  ]);
});

test('a value with a line break still gives a one-line problem', () => {
  assert.deepEqual(problemsOf(runnerRepo('type: "Nginx\\nBackend", cmd: x')), [
    "repos/hello.yml: branches.main.runners.web.type: unknown runner type 'Nginx\\x0aBackend' (expected SimpleProcess, NginxBackend, UwsgiNginxBackend, NginxStatic)",
  ]);
});

test('folders named like files and dangling links are skipped, not crashed on', () => {
  const dir = configDir({ 'keys/alice.pub': keyA, 'repos/hello.yml': HELLO });
  mkdirSync(join(dir, 'repos/folder.yml'));
  symlinkSync(join(dir, 'nowhere'), join(dir, 'keys/ghost.pub'));
  const result = loadConfig(dir);
  assert.ok('config' in result);
  assert.deepEqual(Object.keys(result.config.repos), ['hello']);
});

// ---------------------------------------------------------------- starter

test('the starter config loads cleanly with the given keys, with hello.localhost when nginx is there', () => {
  const dir = join(tmp, 'starter');
  writeStarterConfig(dir, [{ user: 'alice', text: keyA.trim() }], true);
  const result = loadConfig(dir);
  assert.ok('config' in result, 'problems' in result ? result.problems.map(formatProblem).join('\n') : '');
  assert.deepEqual(result.warnings, []);
  const web = result.config.repos['hello']!.branches['main']!.runners['web']!;
  assert.deepEqual([web.type, web.cmd, web.processCount], ['NginxBackend', 'node server.js', 1]);
  assert.equal(result.config.global.users, null);
  assert.deepEqual(result.config.keys.map((k) => k.user), ['alice']);
  assert.equal(readFileSync(join(dir, 'keys/alice.pub'), 'utf8'), keyA);
  assert.match(readFileSync(join(dir, 'slipway.yml'), 'utf8'), /WITHOUT A `users:` SECTION EVERY KEY IN keys\/ IS AN ADMIN/);
  const domain = result.config.domains['hello.localhost']!;
  assert.deepEqual([domain.ssl, domain.locations[0]!.upstream], [false, { repo: 'hello', branch: 'main', runner: 'web' }]);
  assert.deepEqual([result.config.global.nginx.address, result.config.global.nginx.httpPort, result.config.global.nginx.managed], ['127.0.0.1', 8080, true]);
});

test('nginx settings: system mode needs conf_dir, managed mode refuses it, names reaching nginx stay tokens', () => {
  const problems = (yml: string, files: Record<string, string> = {}) => {
    const r = loadConfig(configDir({ 'keys/alice.pub': keyA, 'slipway.yml': yml, ...files }));
    return 'problems' in r ? r.problems.map(formatProblem) : [];
  };
  assert.deepEqual(problems('nginx: {managed: false}\n'), [
    "slipway.yml: nginx.conf_dir: missing (expected the folder the system nginx includes, e.g. /etc/nginx/sites-enabled, when 'managed: false')",
  ]);
  assert.deepEqual(problems('nginx: {managed: true, conf_dir: /etc/nginx/sites-enabled}\n'), [
    "slipway.yml: nginx.conf_dir: a managed nginx keeps its files in the data dir (expected no conf_dir with 'managed: true')",
  ]);
  assert.deepEqual(problems('nginx: {reload_cmd: systemctl reload nginx}\n'), ["slipway.yml: nginx.reload_cmd: only for the system nginx (expected with 'conf_dir')"]);
  assert.deepEqual(problems("nginx: {address: '127.0.0.1; evil'}\ndrain_seconds: -1\n"), [
    "slipway.yml: drain_seconds: got -1 (expected a number of seconds, 0 or more)",
    "slipway.yml: nginx.address: got '127.0.0.1; evil' (expected an IP address or host name, like 127.0.0.1 or ::1)",
  ]);
  const domain = (body: string) => problems('', { 'repos/hello.yml': HELLO, 'domains/example.com.yml': `locations:\n${body}` });
  const up = '{upstream: {repo: hello, branch: main, runner: web}}';
  assert.deepEqual(domain(`  "/; return 200": ${up}\n`), [
    `domains/example.com.yml: locations./; return 200: '/; return 200' holds ';', '{', '}' or an unclosed quote (expected a path like /api, or a regex in double quotes: ~ "^/a{2}")`,
  ]);
  assert.deepEqual(domain(`  '~ "^/a{2}$"': ${up}\n`), []);
  assert.deepEqual(problems('', { 'repos/hello.yml': HELLO, 'domains/example.com.yml': `locations:\n  /: ${up}\nssl_certificate: "/etc/x.crt; include /etc/passwd"\n` }), [
    `domains/example.com.yml: ssl_certificate: got '/etc/x.crt; include /etc/passwd' (expected a path without spaces, quotes, ';', '{', '}' or '$')`,
  ]);
});

test('the starter config has no domain when nginx is not installed', () => {
  const dir = join(tmp, 'starter-no-nginx');
  writeStarterConfig(dir, [{ user: 'alice', text: keyA.trim() }], false);
  const result = loadConfig(dir);
  assert.ok('config' in result);
  assert.deepEqual(Object.keys(result.config.domains), []);
});

test('the starter refuses a dir that already holds a configuration', () => {
  const dir = configDir({ 'pypaas.yml': '' });
  assert.throws(() => writeStarterConfig(dir, [], false), (err) => err instanceof UserError && err.message === `${dir} already holds a configuration; refusing to overwrite`);
});

test('isolation, app_limits and a repo’s run_as, isolation and limits load; a repo overrides only the limits it names', () => {
  const config = configOf({
    'slipway.yml': 'isolation: user\napp_limits: {processes: 100, memory: 2GiB, build_timeout: 60}\n',
    'repos/a.yml': 'run_as: web-a\nisolation: none\nlimits: {open_files: 64}\nbranches: {main: {}}\n',
    'repos/b.yml': 'branches: {main: {}}\n',
  });
  assert.equal(config.global.isolation, 'user');
  assert.deepEqual(config.repos.a!.limits, { processes: 100, openFiles: 64, memoryBytes: 2 * 1024 ** 3, buildTimeoutMs: 60_000 });
  assert.equal(config.repos.a!.runAs, 'web-a');
  assert.equal(config.repos.a!.isolation, 'none');
  assert.deepEqual(config.repos.b!.limits, { processes: 100, openFiles: 4096, memoryBytes: 2 * 1024 ** 3, buildTimeoutMs: 60_000 });
  assert.equal(config.repos.b!.runAs, undefined);
});

test('a bad isolation, run_as or limit is one line naming the file and key', () => {
  assert.deepEqual(problemsOf({ 'slipway.yml': 'isolation: docker\n' }), ["slipway.yml: isolation: got 'docker' (expected sandbox, user or none)"]);
  assert.deepEqual(problemsOf({ 'repos/a.yml': 'run_as: root\nbranches: {main: {}}\n' }), ['repos/a.yml: run_as: root is the gateway, not an app user (expected a user of its own, or leave run_as out)']);
  assert.match(problemsOf({ 'repos/a.yml': 'run_as: "Bad User"\nbranches: {main: {}}\n' })[0]!, /^repos\/a\.yml: run_as: invalid user name 'Bad User' \(expected at most 32 lowercase/);
  assert.match(problemsOf({ 'repos/a.yml': 'limits: {processes: 0}\nbranches: {main: {}}\n' })[0]!, /^repos\/a\.yml: limits\.processes: got 0/);
  assert.match(problemsOf({ 'slipway.yml': 'app_limits: {fork: 3}\n' })[0]!, /^slipway\.yml: app_limits\.fork: unknown key \(expected processes, open_files, memory, build_timeout\)/);
});

test('gc: the grace period in days and the thresholds that start a gc after a push; bad values name the key', () => {
  const c = configOf({ 'slipway.yml': 'gc: {grace_days: 0.5, auto_packs: 0, auto_loose: 50}\n' });
  assert.deepEqual(c.global.gc, { graceMs: 43_200_000, autoPacks: 0, autoLoose: 50 });
  assert.deepEqual(problemsOf({ 'slipway.yml': 'gc: {grace_days: -1, auto_packs: 1.5, prune: now}\n' }), [
    'slipway.yml: gc.grace_days: got -1 (expected a number of days, 0 or more)',
    'slipway.yml: gc.auto_packs: got 1.5 (expected a whole number, 0 or more)',
    'slipway.yml: gc.prune: unknown key (expected grace_days, auto_packs, auto_loose)',
  ]);
});
