/**
 * A push of thousands of objects (the first push of an app with a history) is indexed and
 * checked on a worker thread while the gateway goes on serving others: pushed through the real
 * ssh client, it lands whole, clones back identical and passes native `git fsck --full`; a ref
 * of the same push that git would refuse is refused alone, and only its objects stay out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gitEnv, makeWorkRepo, run, serverRef, startInstance, type Instance } from './helpers/instance.ts';
import { literalGit, treeEntry } from './helpers/literal-objects.ts';
import { FLUSH, packObjects, pkt, rawExec, refs, reportStatus, assertUnharmed } from './helpers/raw-git.ts';

/** A fast-import stream: `commits` commits on `branch` (the first on `from`), each rewriting `files` files in 50 directories. */
function history(branch: string, commits: number, files: number, from?: string): string {
  let s = '';
  for (let c = 1; c <= commits; c++) {
    s += `commit refs/heads/${branch}\ncommitter Ada <ada@example.com> ${1_700_000_000 + c} +0000\ndata 9\ncommit ${c}\n`;
    if (c === 1 && from) s += `from ${from}\n`;
    for (let f = 0; f < files; f++) {
      const body = `file ${f} of commit ${c} on ${branch}\n`;
      s += `M 100644 inline d${f % 50}/f${f}.txt\ndata ${Buffer.byteLength(body)}\n${body}`;
    }
  }
  return s;
}

describe('a push of thousands of objects', () => {
  let inst: Instance;
  let work: string;
  const { g, literally } = literalGit(() => work, () => inst.home);

  before(async () => {
    inst = await startInstance({ users: ['alice', 'bob'], repos: { big: 'branches:\n  main: {}\n  side: {}\n' } });
    work = await makeWorkRepo(inst, 'work', 1);
    await g(['fast-import', '--quiet', '--force'], history('main', 2, 3_000));
    await g(['remote', 'add', 'origin', `${inst.url}/big`]);
  });
  after(() => inst.stop());

  const fsckFull = async () => {
    const r = await inst.serverGit('big', ['fsck', '--full', '--no-dangling']);
    assert.equal(r.code, 0, `git fsck --full failed:\n${r.stdout}${r.stderr}`);
  };

  test('is indexed off the event loop, lands whole, and clones back identical while others are served', async () => {
    const from = inst.output.length;
    const pushing = inst.git(['push', 'origin', 'main'], { cwd: work });
    // Another user's command during the push is answered (how fast is the benchmark's business).
    const who = await run('sh', ['-c', `${inst.sshCommand('bob')} -p ${inst.port} paas@127.0.0.1 whoami`], { env: gitEnv(inst.home) });
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /bob/);
    const r = await pushing;
    assert.equal(r.code, 0, r.stderr);
    assert.match(inst.output.slice(from), /pack received .*objects=\d{4,}.*off_thread=true/);
    assert.equal(await serverRef(inst, 'big', 'refs/heads/main'), await g(['rev-parse', 'main']));
    await fsckFull();
    const clone = `${work}-clone`;
    const c = await inst.git(['clone', '-q', '--mirror', `${inst.url}/big`, clone]);
    assert.equal(c.code, 0, c.stderr);
    const objects = async (dir: string) => (await run('git', ['--git-dir', dir, 'rev-list', '--objects', '--all'], { env: gitEnv(inst.home) })).stdout.split('\n').sort();
    assert.deepEqual(await objects(clone), await objects(`${work}/.git`));
  });

  test('a ref git would refuse is refused alone, and only the objects it alone brings stay out', async () => {
    await g(['fast-import', '--quiet', '--force'], history('more', 2, 3_000, await g(['rev-parse', 'main'])));
    const blob = await g(['rev-parse', 'more:d0/f0.txt']);
    const evil = await literally('tree', treeEntry('100644', '.git', blob));
    const ident = 'Eve <eve@example.com> 1700000000 +0000';
    const head = await literally('commit', Buffer.from(`tree ${evil}\nparent ${await g(['rev-parse', 'more'])}\nauthor ${ident}\ncommitter ${ident}\n\nsneaky\n`));
    await g(['update-ref', 'refs/heads/side', head]);
    await g(['update-ref', 'refs/heads/main', await g(['rev-parse', 'more'])]);

    const from = inst.output.length;
    const r = await inst.git(['push', '--force', 'origin', 'main', 'side'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /side \(.*hasDotgit/);
    assert.match(inst.output.slice(from), /off_thread=true/);
    assert.equal(await serverRef(inst, 'big', 'refs/heads/main'), await g(['rev-parse', 'more']), 'the sound ref of the same push moved');
    assert.equal(await serverRef(inst, 'big', 'refs/heads/side'), null);
    const has = await inst.serverGit('big', ['cat-file', '-e', evil]);
    assert.notEqual(has.code, 0, 'the refused tree did not enter the repo');
    await fsckFull();
  });

  test('cut off in the middle, it is refused with the reason while the worker cleans up, and the repo is unharmed', async () => {
    await g(['fast-import', '--quiet', '--force'], history('cut', 1, 6_000, await g(['rev-parse', 'main'])));
    const main = (await serverRef(inst, 'big', 'refs/heads/main'))!;
    const pack = packObjects(inst, work, ['cut', `^${main}`]);
    assert.ok(pack.readUInt32BE(8) > 5_000, 'a pack for the worker');
    const before = await refs(inst, 'big');
    const from = inst.output.length;
    const command = pkt(`${main} ${await g(['rev-parse', 'cut'])} refs/heads/main\0report-status\n`);
    const r = await rawExec(inst, "git-receive-pack 'big'", Buffer.concat([command, FLUSH, pack.subarray(0, pack.length >> 1)]));
    const { lines } = reportStatus(r.stdout, false);
    assert.match(lines[0] ?? '', /^unpack pack is truncated: expected \d+ objects, got \d+$/, JSON.stringify(lines));
    assert.deepEqual(lines.slice(1), ['ng refs/heads/main unpacker error']);
    assert.match(inst.output.slice(from), /pack refused/);
    await assertUnharmed(inst, before, 'big');
  });
});
