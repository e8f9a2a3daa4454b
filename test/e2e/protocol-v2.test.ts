/**
 * Clone and fetch with stock git forced to each protocol version (`-c protocol.version=0|1|2`)
 * through the real OpenSSH client: v2's ls-refs and fetch (with shallow, deepen, deepen-since,
 * deepen-not), v0/v1 for old clients. Native git serving the same bare repo over file:// is the
 * oracle: the same options give the same commits, the same shallow boundary and the same refs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { gitEnv, run, startInstance, type Instance } from './helpers/instance.ts';
import { collect, connectAs, FLUSH, parsePkts, pkt } from './helpers/raw-git.ts';

const DAY = 86400;
const T0 = 1_700_000_000;

describe('protocol versions for clone and fetch', () => {
  let inst: Instance;
  let work: string;
  let bare: string;
  const local = async (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await run('git', args, { cwd, env: gitEnv(inst.home, env) });
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** A commit dated `day` days after T0, so --shallow-since has dates to cut at. */
  const commitOn = async (day: number, file: string) => {
    fs.writeFileSync(path.join(work, file), `${file} on day ${day}\n${'x'.repeat(300)}\n`);
    await local(work, ['add', '-A']);
    const date = `${T0 + day * DAY} +0000`;
    await local(work, ['commit', '-q', '-m', `day ${day}`], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
  };

  before(async () => {
    inst = await startInstance({ repos: { myapp: 'branches:\n  main: {}\n  side: {}\n' } });
    work = path.join(inst.root, 'work');
    fs.mkdirSync(work);
    await local(work, ['init', '-q', '-b', 'main']);
    for (let d = 0; d < 5; d++) await commitOn(d, `f${d % 3}.txt`);
    await local(work, ['tag', '-a', '-m', 'first release', 'v1']);
    await local(work, ['checkout', '-q', '-b', 'side']);
    for (let d = 5; d < 8; d++) await commitOn(d, 'side.txt');
    await local(work, ['checkout', '-q', 'main']);
    for (let d = 8; d < 10; d++) await commitOn(d, `f${d % 3}.txt`);
    const date = `${T0 + 10 * DAY} +0000`;
    await local(work, ['merge', '-q', '--no-ff', '-m', 'merge side', 'side'], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
    await local(work, ['tag', 'v2']);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main', 'side', 'v1', 'v2'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    bare = inst.gitDir('myapp');
  });
  after(() => inst.stop());

  /** What a clone holds: every commit, the shallow boundary, the refs. */
  const snapshot = async (dir: string) => ({
    commits: (await local(dir, ['rev-list', '--all'])).split('\n').sort(),
    shallow: fs.existsSync(path.join(dir, '.git', 'shallow')) ? fs.readFileSync(path.join(dir, '.git', 'shallow'), 'utf8').trim().split('\n').sort() : [],
    refs: await local(dir, ['for-each-ref', '--format=%(objectname) %(refname)']),
  });

  /** Clones from slipway (over ssh) and from native git (file://) with the same options; returns both, fsck'd, and slipway's packet trace. */
  const cloneBoth = async (version: number, opts: string[], name: string) => {
    const ours = path.join(inst.root, `${name}-ours`);
    const theirs = path.join(inst.root, `${name}-native`);
    const trace = path.join(inst.root, `${name}.trace`);
    const r = await inst.git(['-c', `protocol.version=${version}`, 'clone', '-q', ...opts, `${inst.url}/myapp`, ours], { env: { GIT_TRACE_PACKET: trace } });
    assert.equal(r.code, 0, r.stderr);
    await local(inst.root, ['-c', `protocol.version=${version}`, 'clone', '-q', ...opts, `file://${bare}`, theirs]);
    await local(ours, ['fsck', '--no-dangling']);
    return { ours, theirs, trace: fs.readFileSync(trace, 'utf8') };
  };

  const spoken = (trace: string) => (/packet: +\w+< version 2/.test(trace) ? 2 : /packet: +\w+< version 1/.test(trace) ? 1 : 0);

  for (const version of [0, 1, 2]) {
    test(`protocol v${version}: a full clone is what native git gives, in the version asked for`, async () => {
      const { ours, theirs, trace } = await cloneBoth(version, [], `full-v${version}`);
      assert.equal(spoken(trace), version);
      assert.deepEqual(await snapshot(ours), await snapshot(theirs));
      assert.equal(await local(ours, ['rev-parse', 'HEAD']), await local(theirs, ['rev-parse', 'HEAD']));
    });

    for (const [what, opts] of [
      ['--depth 2', ['--depth', '2', '--no-single-branch']],
      ['--shallow-since', [`--shallow-since=${T0 + 6 * DAY}`, '--no-single-branch']],
      ['--shallow-exclude a tag', ['--shallow-exclude=v1', '--no-single-branch']],
      ['--shallow-exclude a branch and --shallow-since', ['--shallow-exclude=side', `--shallow-since=${T0 + 2 * DAY}`]],
    ] as const) {
      test(`protocol v${version}: a clone with ${what} has the commits and shallow boundary native git gives`, async () => {
        const { ours, theirs, trace } = await cloneBoth(version, [...opts], `${what.replace(/\W+/g, '-')}-v${version}`);
        assert.equal(spoken(trace), version);
        const mine = await snapshot(ours);
        assert.ok(mine.shallow.length > 0, 'the clone is shallow');
        assert.deepEqual(mine, await snapshot(theirs));
      });
    }

    test(`protocol v${version}: deepen, unshallow and an incremental fetch match native git`, async () => {
      const { ours, theirs } = await cloneBoth(version, ['--depth', '1'], `fetch-v${version}`);
      for (const args of [['--deepen=2'], ['--unshallow']]) {
        const r = await inst.git(['-c', `protocol.version=${version}`, 'fetch', '-q', ...args, 'origin'], { cwd: ours });
        assert.equal(r.code, 0, r.stderr);
        await local(theirs, ['-c', `protocol.version=${version}`, 'fetch', '-q', ...args, 'origin']);
        assert.deepEqual(await snapshot(ours), await snapshot(theirs), `after fetch ${args.join(' ')}`);
      }
      await local(ours, ['fsck', '--no-dangling']);
    });
  }

  test('protocol v2: ls-remote (whole, --tags, --heads, patterns) lists what native git lists', async () => {
    for (const pattern of [[], ['--tags'], ['--heads'], ['main'], ['HEAD']]) {
      const r = await inst.git(['-c', 'protocol.version=2', 'ls-remote', '--symref', `${inst.url}/myapp`, ...pattern]);
      assert.equal(r.code, 0, r.stderr);
      const native = await local(inst.root, ['-c', 'protocol.version=2', 'ls-remote', '--symref', `file://${bare}`, ...pattern]);
      assert.equal(r.stdout.trim(), native, `ls-remote ${pattern.join(' ')}`);
    }
  });

  test('protocol v2: ls-refs answers only the ref-prefix a fetch of one branch asks for', async () => {
    const clone = path.join(inst.root, 'one-branch');
    await local(inst.root, ['init', '-q', clone]);
    const trace = path.join(inst.root, 'one-branch.trace');
    const r = await inst.git(['-c', 'protocol.version=2', 'fetch', '--no-tags', `${inst.url}/myapp`, 'side'], { cwd: clone, env: { GIT_TRACE_PACKET: trace } });
    assert.equal(r.code, 0, r.stderr);
    const t = fs.readFileSync(trace, 'utf8');
    assert.match(t, /packet: +\w+> ref-prefix refs\/heads\/side/);
    const listed = [...t.matchAll(/packet: +\w+< [0-9a-f]{40} (\S+)/g)].map((m) => m[1]);
    assert.deepEqual(listed, ['refs/heads/side']);
    assert.equal(await local(clone, ['rev-parse', 'FETCH_HEAD']), await local(work, ['rev-parse', 'side']));
  });

  test('protocol v2: a fetch after new pushes negotiates and brings only what is new', async () => {
    const clone = path.join(inst.root, 'incremental');
    let r = await inst.git(['-c', 'protocol.version=2', 'clone', '-q', `${inst.url}/myapp`, clone]);
    assert.equal(r.code, 0, r.stderr);
    await commitOn(11, 'new.txt');
    r = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const trace = path.join(inst.root, 'incremental.trace');
    r = await inst.git(['-c', 'protocol.version=2', 'fetch', '--progress', 'origin'], { cwd: clone, env: { GIT_TRACE_PACKET: trace } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await local(clone, ['rev-parse', 'origin/main']), await local(work, ['rev-parse', 'main']));
    const t = fs.readFileSync(trace, 'utf8');
    assert.match(t, /packet: +\w+> have [0-9a-f]{40}/, 'the client told what it has');
    assert.match(t, /packet: +\w+< ACK [0-9a-f]{40}/);
    assert.match(r.stderr, /Enumerating objects: 3, done/, 'one commit, its tree and its blob');
    await local(clone, ['fsck', '--no-dangling']);
  });

  for (const version of [1, 2]) {
    test(`a push asked for with protocol.version=${version} works (push is v0/v1 with the version line for v1)`, async () => {
      await commitOn(20 + version, 'pushed.txt');
      const trace = path.join(inst.root, `push-v${version}.trace`);
      const r = await inst.git(['-c', `protocol.version=${version}`, 'push', `${inst.url}/myapp`, 'main'], { cwd: work, env: { GIT_TRACE_PACKET: trace } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(spoken(fs.readFileSync(trace, 'utf8')), version === 1 ? 1 : 0);
      assert.equal(await local(bare, ['rev-parse', 'refs/heads/main']), await local(work, ['rev-parse', 'main']));
    });
  }

  /** A raw v2 request (what the client sends after the capability advertisement); returns the server's answer and exit status. */
  const rawV2 = async (request: Buffer) => {
    const conn = await connectAs(inst, 'alice');
    try {
      const ch = await new Promise<ClientChannel>((resolve, reject) =>
        conn.exec("git-upload-pack 'myapp'", { env: { GIT_PROTOCOL: 'version=2' } }, (err, c) => (err ? reject(err) : resolve(c))),
      );
      const done = collect(ch);
      ch.end(request);
      return await done;
    } finally {
      conn.end();
    }
  };
  const DELIM = Buffer.from('0001');

  for (const [what, request, message] of [
    ['an unknown command', Buffer.concat([pkt('command=exec\n'), FLUSH]), /invalid command 'exec'/],
    ['a want no ref points at', Buffer.concat([pkt('command=fetch\n'), DELIM, pkt(`want ${'ab'.repeat(20)}\n`), pkt('done\n'), FLUSH]), /not our ref abab/],
    ['another object format', Buffer.concat([pkt('command=ls-refs\n'), pkt('object-format=sha256\n'), FLUSH]), /mismatched object format/],
    ['an unknown fetch argument', Buffer.concat([pkt('command=fetch\n'), DELIM, pkt('filter blob:none\n'), FLUSH]), /unexpected line: 'filter blob:none'/],
    ['deepen with deepen-since', Buffer.concat([pkt('command=fetch\n'), DELIM, pkt('deepen 1\n'), pkt('deepen-since 5\n'), FLUSH]), /cannot be used together/],
    ['a deepen-not that is no ref', Buffer.concat([pkt('command=fetch\n'), DELIM, pkt('deepen-not nope\n'), FLUSH]), /deepen-not is not a ref: nope/],
  ] as const) {
    test(`protocol v2: ${what} is refused with a message and exit 128`, async () => {
      const r = await rawV2(request);
      assert.equal(parsePkts(r.stdout)[0], 'version 2\n', 'the capability advertisement came first');
      assert.match(r.stderr, message);
      assert.equal(r.code, 128);
    });
  }
});
