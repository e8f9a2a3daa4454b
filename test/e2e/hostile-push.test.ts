/**
 * Pushes an attacker crafts (issue 13's table), each against its bound: the pusher is told which
 * limit refused it and which setting raises it, the gateway's peak RSS stays under idle + 2x the
 * largest allowed object, another user's `whoami` answers within 0.5 s meanwhile, and the repo
 * passes native `git fsck --full` afterwards.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertFsckClean, assertNoStackTrace, gitEnv, run, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';
import { collect, connectAs, openExec, pushCommand, rawExec, reportStatus, type SshClient } from './helpers/raw-git.ts';
import { buildPack, commitData, copyAllButTail, declaringDelta, oidOf, treeData, zeroBomb, type Entry } from './helpers/pack-craft.ts';

const ZERO = '0'.repeat(40);
const MiB = 1024 ** 2;
const DEFAULT_MAX_OBJECT = 256 * MiB;

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

interface AttackRun<T> {
  result: T;
  /** peak RSS during the attack minus RSS just before it */
  grewBy: number;
  /** the slowest `whoami` round trip of the other user, and how many were made */
  worstMs: number;
  probes: number;
  /** the slowest of a few `whoami`s just before: what the machine's own load costs */
  baselineMs: number;
}

describe('hostile pushes stay within their bounds', () => {
  let inst: Instance;
  let bob: SshClient;

  before(async () => {
    inst = await startInstance({
      users: ['alice', 'bob'],
      repos: { myapp: 'branches:\n  main: {}\n  live:\n    hooks: {build: "true"}\n', deep: 'branches:\n  main: {}\n', chain: 'branches:\n  main: {}\n' },
    });
    bob = await connectAs(inst, 'bob');
  });
  after(async () => {
    bob?.end();
    await inst.stop();
  });

  /** bob's `whoami` on his open connection, timed from exec to the end of its answer. */
  async function whoami(): Promise<number> {
    const started = Date.now();
    const r = await collect(await openExec(bob, 'whoami'));
    assert.match(r.stdout.toString(), /^user: bob/);
    return Date.now() - started;
  }

  async function underAttack<T>(attack: () => Promise<T>): Promise<AttackRun<T>> {
    const pid = inst.proc!.pid!;
    await whoami(); // the connection is warm: what is timed is the gateway, not the first exec
    let baselineMs = 0;
    for (let k = 0; k < 5; k++) baselineMs = Math.max(baselineMs, await whoami());
    const idle = procStatus(pid, 'VmRSS');
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM restarts from now
    let done = false;
    const latencies: number[] = [];
    const prober = (async () => {
      while (!done) {
        latencies.push(await whoami());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const result = await attack();
      return { result, grewBy: procStatus(pid, 'VmHWM') - idle, worstMs: Math.max(...latencies, 0), probes: latencies.length, baselineMs };
    } finally {
      done = true;
      await prober;
    }
  }

  /** The bounds every attack must keep; `maxObject` is the largest object the config allows. */
  function assertBounded(run: AttackRun<unknown>, what: string, maxObject = DEFAULT_MAX_OBJECT): void {
    assert.ok(run.grewBy < 2 * maxObject, `${what}: gateway RSS grew by ${Math.round(run.grewBy / MiB)} MiB (bound ${(2 * maxObject) / MiB} MiB)`);
    assert.ok(run.probes >= 1, `${what}: no whoami ran during the attack`);
    // 0.5 s is the bound; a loaded CI machine slows every whoami alike, so that is added.
    assert.ok(run.worstMs < 500 + run.baselineMs, `${what}: another user's whoami took ${run.worstMs} ms (of ${run.probes}; ${run.baselineMs} ms before the attack)`);
  }

  /** A raw push of `pack` moving `ref` to `tip`; the report-status lines and the side-band messages. */
  async function rawPush(ref: string, tip: string, pack: Buffer, repo = 'myapp') {
    const r = await rawExec(inst, `git-receive-pack '${repo}'`, Buffer.concat([pushCommand(ZERO, tip, ref, 'report-status side-band-64k'), pack]), 'alice');
    return { ...reportStatus(r.stdout, true), stderr: r.stderr };
  }

  async function assertRepoSound(repo = 'myapp'): Promise<void> {
    await assertFsckClean(inst, repo);
    assertNoStackTrace(inst);
  }

  /** The same for a repo of hundreds of MB, whose fsck takes longer than the helper waits. */
  async function assertBigRepoSound(repo: string): Promise<void> {
    const r = await run('git', ['--git-dir', inst.gitDir(repo), 'fsck', '--full', '--strict', '--no-dangling'], { env: gitEnv(inst.home), timeoutMs: 170_000 });
    assert.equal(r.code, 0, `git fsck of ${repo}: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /error|missing|broken|corrupt/i);
    assertNoStackTrace(inst);
  }

  test('a small pack holding a delta chain on a 100 MB base is refused by limits.max_push_inflated before any delta is applied', async () => {
    const base = zeroBomb(100 * MiB);
    const entries: Entry[] = [{ kind: 'deflated', type: 'blob', size: 100 * MiB, zlib: base.zlib }];
    for (let k = 1; k <= 100; k++) entries.push({ kind: 'ofs', base: k - 1, delta: copyAllButTail(100 * MiB, Buffer.from(`link${String(k).padStart(4, '0')}`)) });
    const pack = buildPack(entries);
    assert.ok(pack.length < 200 * 1024, `the pack is ${pack.length} bytes`);
    const run = await underAttack(() => rawPush('refs/heads/main', base.oid, pack));
    assert.equal(run.result.lines.length, 2, run.result.progress);
    assert.match(run.result.lines[0]!, /^unpack the push inflates to 8\.0 GiB or more, more than limits\.max_push_inflated allows \(8 GiB; raise it in slipway\.yml\)$/);
    assert.equal(run.result.lines[1], 'ng refs/heads/main unpacker error');
    assertBounded(run, 'chain refused');
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), null);
    await assertRepoSound();
  });

  test('a delta chain on a 100 MB base within the limits is resolved holding one base at a time', async () => {
    const base = zeroBomb(100 * MiB);
    const entries: Entry[] = [{ kind: 'deflated', type: 'blob', size: 100 * MiB, zlib: base.zlib }];
    let data = Buffer.alloc(100 * MiB);
    let tipBlob = base.oid;
    for (let k = 1; k <= 6; k++) {
      const tail = Buffer.from(`link${k}`);
      entries.push({ kind: 'ofs', base: k - 1, delta: copyAllButTail(100 * MiB, tail) });
      tail.copy(data, data.length - tail.length);
      tipBlob = oidOf('blob', data);
    }
    data = Buffer.alloc(0);
    const tree = treeData([['100644', 'big.bin', tipBlob]]);
    const commit = commitData(oidOf('tree', tree), 'a deep chain of big blobs\n');
    entries.push({ kind: 'full', type: 'tree', data: tree }, { kind: 'full', type: 'commit', data: commit });
    const tip = oidOf('commit', commit);
    const pack = buildPack(entries);
    const run = await underAttack(() => rawPush('refs/heads/main', tip, pack, 'chain'));
    assert.deepEqual(run.result.lines, ['unpack ok', 'ok refs/heads/main'], run.result.progress);
    // With the whole chain held, 6 links of 100 MB would be 600 MB.
    assertBounded(run, 'chain resolved');
    assert.equal(await serverRef(inst, 'chain', 'refs/heads/main'), tip);
    await assertBigRepoSound('chain');
  });

  test('an object whose header declares more than limits.max_object_size is refused without inflating it', async () => {
    // 2 GiB of zeros would take seconds to inflate: the refusal comes from the header alone.
    const entries: Entry[] = [
      { kind: 'full', type: 'blob', data: Buffer.from('small\n') },
      { kind: 'ofs', base: 0, delta: declaringDelta(6, 2 * 1024 ** 3) },
    ];
    const pack = buildPack(entries);
    const run = await underAttack(() => rawPush('refs/tags/bomb', oidOf('blob', Buffer.from('small\n')), pack));
    assert.equal(run.result.lines.length, 2, run.result.progress);
    assert.match(run.result.lines[0]!, /^unpack delta at offset \d+ is 2 GiB inflated, more than limits\.max_object_size allows \(256 MiB; raise it in slipway\.yml\)$/);
    assertBounded(run, 'declared size');
    await assertRepoSound();
  });

  test('a delta chain deeper than limits.max_delta_depth (git\'s own 4095) is refused, so nothing unclonable is stored', async () => {
    const first = Buffer.from('base of a very deep chain\n');
    const entries: Entry[] = [{ kind: 'full', type: 'blob', data: first }];
    for (let k = 1; k <= 4096; k++) entries.push({ kind: 'ofs', base: k - 1, delta: copyAllButTail(first.length, Buffer.from(String(k).padStart(6, '0'))) });
    const pack = buildPack(entries);
    const deep = await underAttack(() => rawPush('refs/tags/deep', oidOf('blob', first), pack, 'deep'));
    assert.equal(deep.result.lines.length, 2, deep.result.progress);
    assert.match(deep.result.lines[0]!, /^unpack delta at offset \d+ ends a delta chain 4096 deep, more than limits\.max_delta_depth allows \(4095; raise it in slipway\.yml\)$/);
    assertBounded(deep, 'deep chain');
    await assertRepoSound('deep');
    // What the repo holds is still served to stock git.
    const work = path.join(tempDir(), 'w');
    const env = gitEnv(inst.home);
    await run('git', ['init', '-q', '-b', 'main', work], { env });
    await run('git', ['commit', '-q', '--allow-empty', '-m', 'x'], { cwd: work, env });
    assert.equal((await inst.git(['push', '-q', `${inst.url}/deep`, 'main'], { cwd: work })).code, 0);
    const r = await inst.git(['clone', '-q', `${inst.url}/deep`, path.join(tempDir(), 'c')]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('a commit with a 50 MB message is refused by limits.max_message_size', async () => {
    const tree = treeData([['100644', 'README', oidOf('blob', Buffer.from('hi\n'))]]);
    const commit = commitData(oidOf('tree', tree), Buffer.alloc(50 * 1000 * 1000, 'spam '));
    const tip = oidOf('commit', commit);
    const pack = buildPack([{ kind: 'full', type: 'blob', data: Buffer.from('hi\n') }, { kind: 'full', type: 'tree', data: tree }, { kind: 'full', type: 'commit', data: commit }]);
    const run = await underAttack(() => rawPush('refs/tags/spam', tip, pack));
    assert.deepEqual(run.result.lines, ['unpack ok', `ng refs/tags/spam commit ${tip.slice(0, 12)} has a 47.7 MiB message, more than limits.max_message_size allows (1 MiB; raise it in slipway.yml)`]);
    assertBounded(run, 'long message');
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/spam'), null);
    await assertRepoSound();
  });

  test('a tree of 200,000 entries is refused by limits.max_tree_entries', async () => {
    const empty = oidOf('blob', Buffer.alloc(0));
    const names: Array<[string, string, string]> = [];
    for (let k = 0; k < 200_000; k++) names.push(['100644', `f${String(k).padStart(6, '0')}`, empty]);
    const tree = treeData(names);
    const commit = commitData(oidOf('tree', tree), 'wide\n');
    const tip = oidOf('commit', commit);
    const pack = buildPack([{ kind: 'full', type: 'blob', data: Buffer.alloc(0) }, { kind: 'full', type: 'tree', data: tree }, { kind: 'full', type: 'commit', data: commit }]);
    const run = await underAttack(() => rawPush('refs/tags/wide', tip, pack));
    assert.deepEqual(run.result.lines, ['unpack ok', `ng refs/tags/wide tree ${oidOf('tree', tree).slice(0, 12)} has 100001 entries or more, more than limits.max_tree_entries allows (100000; raise it in slipway.yml)`]);
    assertBounded(run, 'wide tree');
    await assertRepoSound();
  });

  test('a 2 GiB zip bomb on a deploy branch fails that deploy by limits.max_checkout_size, before a file is written', async () => {
    const bomb = zeroBomb(128 * MiB);
    const files: Array<[string, string, string]> = [];
    for (let k = 0; k < 17; k++) files.push(['100644', `part${k}.bin`, bomb.oid]);
    const tree = treeData(files);
    const commit = commitData(oidOf('tree', tree), 'a zip bomb\n');
    const tip = oidOf('commit', commit);
    const pack = buildPack([{ kind: 'deflated', type: 'blob', size: 128 * MiB, zlib: bomb.zlib }, { kind: 'full', type: 'tree', data: tree }, { kind: 'full', type: 'commit', data: commit }]);
    assert.ok(pack.length < 2 * MiB);
    const run = await underAttack(() => rawPush('refs/heads/live', tip, pack));
    const said = run.result.progress;
    assert.match(said, /the checkout would write 2\.1 GiB or more, more than limits\.max_checkout_size allows \(2 GiB; raise it in slipway\.yml\)/);
    assert.equal(run.result.lines[0], 'unpack ok');
    assert.match(run.result.lines[1]!, /^ng refs\/heads\/live /);
    assertBounded(run, 'zip bomb');
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/live'), null);
    const checkouts = path.join(inst.dataDir, 'checkouts', 'myapp', 'live');
    const written = fs.existsSync(checkouts) ? fs.readdirSync(checkouts) : [];
    assert.deepEqual(written, [], 'a checkout was left behind');
    await assertRepoSound();
  });

  test('100,000 tags in one push are refused by limits.max_refs_per_push; 3,000 are taken while others are served', async () => {
    const work = path.join(tempDir(), 'tags');
    const env = gitEnv(inst.home);
    await run('git', ['init', '-q', '-b', 'main', work], { env });
    fs.writeFileSync(path.join(work, 'f'), 'tagged\n');
    await run('git', ['add', 'f'], { cwd: work, env });
    await run('git', ['commit', '-qm', 'tagged'], { cwd: work, env });
    const head = (await run('git', ['rev-parse', 'HEAD'], { cwd: work, env })).stdout.trim();
    const writeTags = (n: number) => {
      const lines = ['# pack-refs with: peeled fully-peeled sorted'];
      for (let k = 0; k < n; k++) lines.push(`${head} refs/tags/v${String(k).padStart(6, '0')}`);
      fs.writeFileSync(path.join(work, '.git', 'packed-refs'), lines.join('\n') + '\n');
    };
    writeTags(100_000);
    const refused = await underAttack(() => inst.git(['push', `${inst.url}/myapp`, 'refs/tags/*:refs/tags/*'], { cwd: work }));
    assert.notEqual(refused.result.code, 0);
    assert.match(refused.result.stderr, /fatal: the push updates 10001 refs or more, more than limits\.max_refs_per_push allows \(10000; raise it in slipway\.yml\)/);
    assertBounded(refused, '100,000 tags');
    assert.equal((await inst.serverGit('myapp', ['tag', '-l'])).stdout, '');

    writeTags(3_000);
    const taken = await underAttack(() => inst.git(['push', `${inst.url}/myapp`, 'refs/tags/*:refs/tags/*'], { cwd: work }));
    assert.equal(taken.result.code, 0, taken.result.stderr);
    assertBounded(taken, '3,000 tags');
    assert.equal((await inst.serverGit('myapp', ['tag', '-l'])).stdout.split('\n').filter(Boolean).length, 3_000);
    await assertRepoSound();
  });
});
