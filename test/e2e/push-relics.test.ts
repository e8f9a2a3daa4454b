/**
 * Real histories carry relics of old tools that native git only warns about: zero-padded tree
 * modes (040000), odd file modes, tags without a tagger. Pushed through the real ssh client, they
 * are accepted, counted in the server log, cloned back byte for byte, and the repo passes native
 * `git fsck --full`. Objects native git calls errors refuse their ref, and when other refs of the
 * same push are accepted, the refused objects never enter the repo.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gitEnv, makeWorkRepo, run, serverRef, startInstance, type Instance } from './helpers/instance.ts';
import { literalGit, treeEntry } from './helpers/literal-objects.ts';

describe('pushing objects git only warns about', () => {
  let inst: Instance;
  let work: string;
  const { g, literally } = literalGit(() => work, () => inst.home);
  const entry = treeEntry;
  const ident = 'Old Tool <old@example.com> 1200000000 +0000';
  const commit = (tree: string, parent: string, msg: string) =>
    literally('commit', Buffer.from(`tree ${tree}\nparent ${parent}\nauthor ${ident}\ncommitter ${ident}\n\n${msg}\n`));

  /** Native fsck with its default severities: the repo must have no error, warnings allowed. */
  const fsckFull = async () => {
    const r = await inst.serverGit('myapp', ['fsck', '--full', '--no-dangling']);
    assert.equal(r.code, 0, `git fsck --full failed:\n${r.stdout}${r.stderr}`);
    const problems = (r.stdout + r.stderr).split('\n').filter((l) => l && !l.startsWith('warning in '));
    assert.deepEqual(problems, [], 'only warnings');
    return r.stderr;
  };

  before(async () => {
    inst = await startInstance({ repos: { myapp: 'branches:\n  main: {}\n  staging: {}\n' } });
    work = await makeWorkRepo(inst, 'work', 2);
    await g(['remote', 'add', 'origin', `${inst.url}/myapp`]);
  });
  after(() => inst.stop());

  test('zero-padded and odd modes and a tag without tagger are accepted, logged, and cloned back as they are', async () => {
    const blob = await g(['rev-parse', 'HEAD:README.md']);
    const sub = await literally('tree', entry('100664', 'old.txt', blob));
    const top = await literally('tree', Buffer.concat([entry('100644', 'README.md', blob), entry('040000', 'artwork', sub)]));
    const head = await commit(top, await g(['rev-parse', 'HEAD']), 'made by an old tool');
    await g(['update-ref', 'refs/heads/main', head]);
    const tag = await literally('tag', Buffer.from(`object ${head}\ntype commit\ntag v0.1\n\nan early tag\n`));
    await g(['update-ref', 'refs/tags/v0.1', tag]);

    const from = inst.output.length;
    const r = await inst.git(['push', 'origin', 'main', 'v0.1'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), head);
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v0.1'), tag);
    const warnings = await fsckFull();
    assert.match(warnings, /zeroPaddedFilemode/, 'native git sees the relic in the repo');
    assert.match(inst.output.slice(from), /git fsck warnings.*missingTaggerEntry=1.*zeroPaddedFilemode=1|zeroPaddedFilemode=1.*missingTaggerEntry=1/);

    const clone = `${work}-clone`;
    const c = await inst.git(['clone', '-q', '--mirror', `${inst.url}/myapp`, clone]);
    assert.equal(c.code, 0, c.stderr);
    const cat = await run('git', ['--git-dir', clone, 'cat-file', 'tree', top], { env: gitEnv(inst.home) });
    assert.ok(Buffer.from(cat.stdout, 'latin1').includes('040000 artwork'), 'the tree comes back with its own mode bytes');
  });

  test('refs whose objects git calls errors are refused, and their objects never enter the repo', async () => {
    const base = await g(['rev-parse', 'HEAD']);
    const blob = await g(['rev-parse', 'HEAD:README.md']);
    const good = await commit(await literally('tree', entry('100644', 'fine.txt', blob)), base, 'good');
    const unsorted = await literally('tree', Buffer.concat([entry('100644', 'b', blob), entry('100644', 'a', blob)]));
    const badBlob = await literally('blob', Buffer.from('only the refused ref reaches this\n'));
    const badTop = await literally('tree', Buffer.concat([entry('100644', 'only-bad.txt', badBlob), entry('40000', 'z', unsorted)]));
    const bad = await commit(badTop, base, 'bad');
    await g(['update-ref', 'refs/heads/main', good]);
    await g(['update-ref', 'refs/heads/staging', bad]);

    const r = await inst.git(['push', 'origin', 'main', 'staging'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /! \[remote rejected\] staging -> staging \(tree [0-9a-f]+ is malformed: treeNotSorted/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), good);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), null);
    for (const oid of [bad, badTop, unsorted, badBlob]) {
      const e = await inst.serverGit('myapp', ['cat-file', '-e', oid]);
      assert.notEqual(e.code, 0, `${oid} of the refused ref is in the repo`);
    }
    await fsckFull();
  });
});
