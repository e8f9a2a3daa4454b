/**
 * The operator commands over real ssh: list, status, keys, whoami, help, custom_cmds,
 * rebuild_authorized_keys, each with its --json where it has one, under admin, deploy and read
 * roles; usage errors (exit 2), denials (exit 1, one line), unknown commands (127), quoting, and
 * colour only with a pty.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, newMarker, portRange, stopAll } from './helpers/deploy.ts';
import { startInstance, tempDir, type Instance, type RunResult } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();

const HELLO = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js, process_count: 2}
      worker: {type: SimpleProcess, cmd: node worker.js}
    hooks: {build: ["sh build.sh"]}
    env: {SLIPWAY_TEST_ID: ${marker}}
    custom_cmds: {hi: "echo hi from $SLIPWAY_RELEASE", fail: "echo failing; exit 4", after: "echo after"}
  staging: {}
`;
const OTHER = `branches:\n  main:\n    runners:\n      site: {type: NginxStatic}\n`;

function fingerprint(pubFile: string): string {
  return spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]).stdout.toString().split(' ')[1]!;
}

function refusal(r: RunResult, code: number, line: string | RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: printed on stdout`);
  if (typeof line === 'string') assert.equal(r.stderr, `${line}\n`, what);
  else assert.match(r.stderr, line, what);
}

describe('operator commands', () => {
  let inst: Instance;
  let work: string;
  const commits: Record<string, string> = {};

  before(async () => {
    inst = await startInstance({
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nusers:\n  alice: admin\n  ci: {deploy: [hello]}\n  intern: {read: [other]}\n  ghost: admin\n`,
      repos: { hello: HELLO, other: OTHER },
      // mallory's key is in keys/ but `users` does not list mallory: a key that cannot log in.
      users: ['alice', 'ci', 'intern', 'mallory'],
    });
    work = path.join(tempDir(), 'work');
    commits.v1 = await commitApp(work, inst, 'v1');
    const r = await inst.git(['push', `${inst.url}/hello`, 'main'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => stopAll(inst, marker));

  test("list keeps pyPaaS's layout and shows only the repos a role covers; --json has the documented shape", async () => {
    const admin = await inst.ssh('alice', ['list']);
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal(admin.stdout, '\nRepos\n=====\n\nhello:\n\tmain:\n\t\tweb (NginxBackend)\n\t\tworker (SimpleProcess)\n\tstaging:\nother:\n\tmain:\n\t\tsite (NginxStatic)\n');
    assert.equal((await inst.ssh('ci', ['list'])).stdout, '\nRepos\n=====\n\nhello:\n\tmain:\n\t\tweb (NginxBackend)\n\t\tworker (SimpleProcess)\n\tstaging:\n');
    assert.equal((await inst.ssh('intern', ['list'])).stdout, '\nRepos\n=====\n\nother:\n\tmain:\n\t\tsite (NginxStatic)\n');
    const j = await inst.ssh('ci', ['list', '--json']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout), {
      repos: [
        {
          name: 'hello',
          branches: [
            { name: 'main', runners: [{ name: 'web', type: 'NginxBackend', process_count: 2 }, { name: 'worker', type: 'SimpleProcess', process_count: 1 }] },
            { name: 'staging', runners: [] },
          ],
        },
      ],
    });
  });

  test('status shows each runner, its processes with pid, port, uptime and restarts, the release and its age, and the last deploy', async () => {
    const r = await inst.ssh('ci', ['status', 'hello', 'main']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, new RegExp(`^hello/main: r1 ${commits.v1!.slice(0, 12)} by alice, \\d+s ago; last deploy r1 ok \\([\\d.]+ s\\)$`));
    assert.match(lines[1]!, /^ {2}web \(NginxBackend\): running, 2\/2$/);
    assert.match(lines[2]!, /^ {4}web\.0 r1 running pid \d+ port \d+ restarts 0 up \d+s$/);
    assert.match(lines[3]!, /^ {4}web\.1 r1 running pid \d+ port \d+ restarts 0 up \d+s$/);
    assert.match(lines[4]!, /^ {2}worker \(SimpleProcess\): running, 1\/1$/);
    assert.match(lines[5]!, /^ {4}worker\.0 r1 running pid \d+ restarts 0 up \d+s$/);
    assert.equal(lines.length, 6, r.stdout);
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colour without a pty');

    const j = JSON.parse((await inst.ssh('ci', ['status', '--json', 'hello'])).stdout);
    assert.deepEqual(j.domains, []);
    assert.deepEqual(j.branches.map((b: { branch: string }) => b.branch), ['main', 'staging']);
    const [main, staging] = j.branches;
    assert.equal(main.head, commits.v1);
    assert.deepEqual(Object.keys(main.current), ['id', 'commit', 'user', 'deployed_at', 'age_seconds']);
    assert.deepEqual([main.current.id, main.current.commit, main.current.user], ['r1', commits.v1, 'alice']);
    assert.ok(main.current.age_seconds >= 0 && main.current.age_seconds < 600);
    assert.deepEqual({ ...main.last_deploy, started_at: 'T', seconds: 0 }, { release: 'r1', commit: commits.v1, user: 'alice', started_at: 'T', seconds: 0, ok: true, error: null });
    assert.deepEqual(main.runners.map((x: { name: string; type: string; process_count: number; state: string }) => [x.name, x.type, x.process_count, x.state]), [['web', 'NginxBackend', 2, 'running'], ['worker', 'SimpleProcess', 1, 'running']]);
    const web0 = main.runners[0].processes[0];
    assert.deepEqual(Object.keys(web0), ['index', 'release', 'state', 'pid', 'port', 'started_at', 'uptime_seconds', 'restarts', 'last_exit']);
    assert.equal(web0.release, 'r1');
    assert.ok(web0.pid > 0 && web0.port >= ports.min && web0.port < ports.max && web0.uptime_seconds >= 0, JSON.stringify(web0));
    assert.ok(!Number.isNaN(Date.parse(web0.started_at)));
    assert.deepEqual(staging, { repo: 'hello', branch: 'staging', head: null, current: null, last_deploy: null, runners: [] });
  });

  test('a failed deploy shows as the last deploy while the current release keeps running', async () => {
    await commitApp(work, inst, 'v2', { buildFail: true });
    const push = await inst.git(['push', `${inst.url}/hello`, 'main'], { cwd: work, user: 'ci' });
    assert.notEqual(push.code, 0);
    const j = JSON.parse((await inst.ssh('ci', ['status', 'hello', 'main', '--json'])).stdout);
    const main = j.branches[0];
    assert.equal(main.current.id, 'r1');
    assert.equal(main.last_deploy.release, 'r2');
    assert.equal(main.last_deploy.user, 'ci');
    assert.equal(main.last_deploy.ok, false);
    assert.match(main.last_deploy.error, /^deploy failed: build exited 3/);
    const text = await inst.ssh('ci', ['status', 'hello', 'main']);
    assert.match(text.stdout, /^hello\/main: r1 \S+ by alice, \d+s ago; last deploy r2 failed \d+s ago: deploy failed: build exited 3/);
    commits.v3 = await commitApp(work, inst, 'v3');
    assert.equal((await inst.git(['push', `${inst.url}/hello`, 'main'], { cwd: work, user: 'ci' })).code, 0);
  });

  test('status of a read user shows its repos only; another repo is not found', async () => {
    const r = await inst.ssh('intern', ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'other/main: not deployed\n');
    refusal(await inst.ssh('intern', ['status', 'hello']), 1, "repository 'hello' not found", 'intern: status hello');
    refusal(await inst.ssh('intern', ['status', 'hello', '--json']), 1, "repository 'hello' not found", 'intern: status hello --json');
  });

  test('keys lists every user with role, key types and fingerprints, for admins only', async () => {
    const r = await inst.ssh('alice', ['keys']);
    assert.equal(r.code, 0, r.stderr);
    const fp = (u: string) => fingerprint(`${inst.keys[u]}.pub`);
    assert.equal(
      r.stdout,
      [
        'alice: admin',
        `  ssh-ed25519 ${fp('alice')} alice@test (keys/alice.pub:1)`,
        'ci: deploy: hello',
        `  ssh-ed25519 ${fp('ci')} ci@test (keys/ci.pub:1)`,
        'ghost: admin',
        '  (no key in keys/)',
        'intern: read: other',
        `  ssh-ed25519 ${fp('intern')} intern@test (keys/intern.pub:1)`,
        'mallory: no role (not in users: cannot log in)',
        `  ssh-ed25519 ${fp('mallory')} mallory@test (keys/mallory.pub:1)`,
        '',
      ].join('\n'),
    );
    const j = JSON.parse((await inst.ssh('alice', ['keys', '--json'])).stdout);
    assert.deepEqual(j.users.find((u: { user: string }) => u.user === 'ci'), { user: 'ci', role: { kind: 'deploy', repos: ['hello'] }, keys: [{ type: 'ssh-ed25519', fingerprint: fp('ci'), comment: 'ci@test', source: 'keys/ci.pub:1' }] });
    assert.deepEqual(j.users.find((u: { user: string }) => u.user === 'mallory').role, null);
    assert.deepEqual(j.users.find((u: { user: string }) => u.user === 'ghost'), { user: 'ghost', role: { kind: 'admin' }, keys: [] });
    refusal(await inst.ssh('ci', ['keys']), 1, 'permission denied: ci may not run admin commands', 'ci: keys');
    refusal(await inst.ssh('intern', ['keys', '--json']), 1, 'permission denied: intern may not run admin commands', 'intern: keys --json');
  });

  test('whoami names user, role and key fingerprint for each role; --json says the same in the documented shape', async () => {
    for (const [user, role, repos] of [['alice', 'admin', 'hello, other'], ['ci', 'deploy: hello', 'hello'], ['intern', 'read: other', 'other']] as const) {
      const r = await inst.ssh(user, ['whoami']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `user: ${user}\nrole: ${role}\nkey:  ${fingerprint(`${inst.keys[user]}.pub`)}\nrepos: ${repos}\n`);
    }
    const shapes = [['alice', { kind: 'admin' }, ['hello', 'other']], ['ci', { kind: 'deploy', repos: ['hello'] }, ['hello']], ['intern', { kind: 'read', repos: ['other'] }, ['other']]] as const;
    for (const [user, role, repos] of shapes) {
      const r = await inst.ssh(user, ['whoami', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        user,
        role,
        key_fingerprint: fingerprint(`${inst.keys[user]}.pub`),
        repos,
      });
    }
  });

  test('denials are one line, exit 1: permission denied: <user> may not <action> <repo>', async () => {
    refusal(await inst.ssh('intern', ['rebuild', 'other', 'main']), 1, 'permission denied: intern may not operate other', 'intern: rebuild');
    refusal(await inst.ssh('intern', ['custom_cmds', 'other', 'main']), 1, 'permission denied: intern may not operate other', 'intern: custom_cmds');
    refusal(await inst.ssh('ci', ['cleanup']), 1, 'permission denied: ci may not run admin commands', 'ci: cleanup');
    const push = await inst.git(['push', `${inst.url}/other`, 'HEAD:main'], { cwd: work, user: 'intern' });
    assert.match(push.stderr, /fatal: remote error: permission denied: intern may not push to other\n/);
  });

  test('usage errors exit 2 with the usage; unknown commands 127; --help explains flags and the role needed', async () => {
    refusal(await inst.ssh('alice', ['list', 'extra']), 2, 'usage: list [--json]', 'list extra');
    refusal(await inst.ssh('alice', ['status', '--bogus']), 2, "unknown flag '--bogus' (status takes --json)\nusage: status [<repo> [<branch>]] [--json]", 'status --bogus');
    refusal(await inst.ssh('alice', ['keys', '--json=yes']), 2, '--json takes no value\nusage: keys [--json]', 'keys --json=yes');
    refusal(await inst.ssh('alice', ['whoami', '-v']), 2, "unknown flag '-v' (whoami takes --json)\nusage: whoami [--json]", 'whoami -v');
    refusal(await inst.ssh('alice', ['rollback']), 2, 'usage: rollback <repo> <branch> [<release>]', 'rollback');
    refusal(await inst.ssh('alice', ['lsit']), 127, "unknown command 'lsit'; try 'help'", 'lsit');
    refusal(await inst.ssh('alice', ['help', 'lsit']), 127, "unknown command 'lsit'; try 'help'", 'help lsit');

    const help = await inst.ssh('intern', ['help']);
    assert.equal(help.code, 0, help.stderr);
    for (const c of ['help', 'whoami', 'list', 'status', 'releases', 'rebuild', 'restart', 'rollback', 'custom_cmds', 'cleanup', 'keys', 'rebuild_authorized_keys']) {
      assert.match(help.stdout, new RegExp(`^ {2}${c}\\b`, 'm'), `help lists ${c}`);
    }
    const keysHelp = await inst.ssh('ci', ['keys', '--help']);
    assert.equal(keysHelp.code, 0, keysHelp.stderr);
    assert.match(keysHelp.stdout, /^usage: keys \[--json\]\n.*\nflags:\n {2}--json +print one JSON document instead \(shape: docs\/commands\.md\)\nneeds: the admin role\n$/);
    assert.equal((await inst.ssh('ci', ['help', 'keys'])).stdout, keysHelp.stdout);
  });

  test('arguments are shell words: quotes make one argument, nothing is expanded or run', async () => {
    refusal(await inst.ssh('alice', ['status', "'hel lo'"]), 1, "repository 'hel lo' not found", 'quoted repo');
    refusal(await inst.ssh('alice', ['status', '"hello"', "'main branch'"]), 1, "branch 'main branch' is not configured for repo 'hello' (configured: main, staging)", 'quoted branch');
    refusal(await inst.ssh('alice', ['custom_cmds', 'hello', 'main', "'hi; id'"]), 1, "no custom command 'hi; id' for hello/main (known: hi, fail, after)", 'custom_cmds with ;');
    refusal(await inst.ssh('alice', ['status', 'hello', 'main', '$(id)']), 2, 'usage: status [<repo> [<branch>]] [--json]', 'three words');
    refusal(await inst.ssh('alice', ['status', "'unterminated"]), 1, 'unterminated single quote in command', 'bad quoting');
    // `--` ends the flags: a repo named like a flag is looked up, not parsed.
    refusal(await inst.ssh('alice', ['status', '--', '--json']), 1, "repository '--json' not found", 'status -- --json');
  });

  test('custom_cmds lists a branch’s commands, runs several in order and stops at the first that fails', async () => {
    const listed = await inst.ssh('ci', ['custom_cmds', 'hello', 'main']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, 'hi: echo hi from $SLIPWAY_RELEASE\nfail: echo failing; exit 4\nafter: echo after\n');
    const r = await inst.ssh('ci', ['custom_cmds', 'hello', 'main', 'hi', 'fail', 'after']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /^-----> custom_cmds hello\/main hi\nhi from r3\n-----> custom_cmds hello\/main fail\nfailing\n/);
    assert.doesNotMatch(r.stdout, /after/);
    const unknown = await inst.ssh('ci', ['custom_cmds', 'hello', 'main', 'hi', 'nope']);
    refusal(unknown, 1, "no custom command 'nope' for hello/main (known: hi, fail, after)", 'an unknown name runs nothing');
  });

  test('rebuild_authorized_keys says keys are read live from keys/', async () => {
    const r = await inst.ssh('intern', ['rebuild_authorized_keys']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nothing to rebuild: .*keys\/<user>\.pub, read live/);
  });

  test('with a pty status is coloured; without one it is plain text', async () => {
    const tty = await inst.ssh('ci', ['status', 'hello', 'main'], ['-tt']);
    assert.equal(tty.code, 0, tty.stderr);
    assert.match(tty.stdout, /\x1b\[32mrunning\x1b\[0m/);
    assert.match(tty.stdout, /\r\n/);
    const plain = await inst.ssh('ci', ['status', 'hello', 'main']);
    assert.doesNotMatch(plain.stdout, /\x1b|\r/);
    // --json is for scripts: never coloured, even on a terminal.
    const j = await inst.ssh('ci', ['status', 'hello', 'main', '--json'], ['-tt']);
    assert.doesNotMatch(j.stdout, /\x1b/);
    assert.equal(JSON.parse(j.stdout).branches[0].current.id, 'r3');
  });
});
