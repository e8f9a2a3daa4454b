/**
 * The audit log: every push, fetch and command appends one JSON line to <data>/audit.log saying
 * who (user, key fingerprint, address, via), what (action, repo, branch, args or refs) and how it
 * ended, denials and bad input included.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeWorkRepo, startInstance, waitUntil, type Instance } from './helpers/instance.ts';

const ZERO = '0'.repeat(40);

interface Line {
  time: string;
  user: string;
  fingerprint: string;
  address: string;
  via: string;
  action: string;
  repo?: string;
  branch?: string;
  args?: string[];
  refs?: { ref: string; old: string; new: string; error?: string }[];
  result: string;
  exit?: number;
  message?: string;
  ms: number;
}

describe('audit log', () => {
  let inst: Instance;
  let work: string;
  let file: string;
  const fp = (user: string) => spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${inst.keys[user]}.pub`]).stdout.toString().split(' ')[1]!;

  const lines = (): Line[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []);
  /** Runs `act`, then waits for the one line it appends and returns it. */
  async function lineOf(act: () => Promise<unknown>): Promise<Line> {
    const before_ = lines().length;
    await act();
    const all = await waitUntil('an audit line', lines, (l) => l.length > before_, 10_000);
    assert.equal(all.length, before_ + 1, `one action, one line:\n${JSON.stringify(all.slice(before_), null, 1)}`);
    const line = all.at(-1)!;
    assert.ok(Math.abs(Date.parse(line.time) - Date.now()) < 60_000, line.time);
    assert.match(line.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(line.ms >= 0);
    return line;
  }
  /** A line without the fields that change from run to run. */
  const stable = ({ time: _t, address: _a, ms: _m, ...rest }: Line) => rest;

  before(async () => {
    inst = await startInstance({
      slipwayYml: 'users:\n  alice: admin\n  intern: {read: [myapp]}\n',
      repos: { myapp: 'branches:\n  main: {}\n' },
      users: ['alice', 'intern'],
    });
    file = path.join(inst.dataDir, 'audit.log');
    work = await makeWorkRepo(inst, 'work', 1);
  });
  after(() => inst.stop());

  test('a push is one line with its refs; the file is private to the gateway', async () => {
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: work }).stdout.toString().trim();
    const line = await lineOf(() => inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work, user: 'alice' }));
    assert.deepEqual(stable(line), { user: 'alice', fingerprint: fp('alice'), via: 'git', action: 'push', repo: 'myapp', refs: [{ ref: 'refs/heads/main', old: ZERO, new: head }], result: 'ok' });
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);

    const refused = await lineOf(() => inst.git(['push', `${inst.url}/myapp`, 'main:dev'], { cwd: work, user: 'alice' }));
    assert.deepEqual(stable(refused), {
      user: 'alice',
      fingerprint: fp('alice'),
      via: 'git',
      action: 'push',
      repo: 'myapp',
      refs: [{ ref: 'refs/heads/dev', old: ZERO, new: head, error: "branch 'dev' is not configured for repo 'myapp' (configured: main)" }],
      result: 'failed',
    });
  });

  test('a fetch and a command are one line each, with the repo, branch and arguments', async () => {
    const fetch = await lineOf(() => inst.git(['ls-remote', `${inst.url}/myapp`], { user: 'intern' }));
    assert.deepEqual(stable(fetch), { user: 'intern', fingerprint: fp('intern'), via: 'git', action: 'fetch', repo: 'myapp', result: 'ok' });
    const status = await lineOf(() => inst.ssh('intern', ['status', 'myapp', 'main', '--json']));
    assert.deepEqual(stable(status), { user: 'intern', fingerprint: fp('intern'), via: 'ssh', action: 'status', args: ['myapp', 'main', '--json'], repo: 'myapp', branch: 'main', result: 'ok', exit: 0 });
  });

  test('denials, usage errors, unknown commands and bad quoting are recorded with what the user was told', async () => {
    const push = await lineOf(() => inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work, user: 'intern' }));
    assert.deepEqual(stable(push), { user: 'intern', fingerprint: fp('intern'), via: 'git', action: 'push', repo: 'myapp', result: 'denied', message: 'permission denied: intern may not push to myapp' });
    const cleanup = await lineOf(() => inst.ssh('intern', ['cleanup']));
    assert.deepEqual(stable(cleanup), { user: 'intern', fingerprint: fp('intern'), via: 'ssh', action: 'cleanup', result: 'denied', message: 'permission denied: intern may not run admin commands' });
    const hidden = await lineOf(() => inst.ssh('intern', ['releases', 'secret', 'main']));
    assert.deepEqual([hidden.action, hidden.repo, hidden.result, hidden.message], ['releases', 'secret', 'denied', "repository 'secret' not found"]);
    const usage = await lineOf(() => inst.ssh('alice', ['list', '--all']));
    assert.deepEqual([usage.action, usage.args, usage.result, usage.message], ['list', ['--all'], 'usage', "unknown flag '--all' (list takes --json)"]);
    const unknown = await lineOf(() => inst.ssh('alice', ['rm', '-rf', '/']));
    assert.deepEqual([unknown.action, unknown.args, unknown.result], ['rm', ['-rf', '/'], 'unknown']);
    const quoting = await lineOf(() => inst.ssh('alice', ['status', "'oops"]));
    assert.deepEqual([quoting.via, quoting.action, quoting.result, quoting.message], ['ssh', 'exec', 'refused', 'unterminated single quote in command']);
  });
});
