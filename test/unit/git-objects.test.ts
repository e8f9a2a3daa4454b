import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  GitFormatError,
  hashObject,
  parseCommit,
  parseTag,
  parseTree,
  serializeCommit,
  serializeTree,
  treeLinks,
  type TreeEntry,
} from '../../src/git/objects.ts';
import { git, gitText, makeRepo, removeDir, tempDir } from './git-fixtures.ts';

describe('git objects', () => {
  let repo: string;
  let commits: string[];

  before(() => {
    repo = tempDir('objects');
    commits = makeRepo(repo, 3, 8);
  });
  after(() => removeDir(repo));

  const catFile = (type: string, oid: string) => git(repo, ['cat-file', type, oid]);

  test('hashObject matches git hash-object for every type', () => {
    for (const data of [Buffer.alloc(0), Buffer.from('hello\n'), Buffer.from([0, 1, 2, 255, 10])]) {
      assert.equal(hashObject('blob', data), gitText(repo, ['hash-object', '--stdin'], data));
    }
    const head = commits.at(-1)!;
    for (const [type, oid] of [['commit', head], ['tree', `${head}^{tree}`]] as const) {
      const data = catFile(type, oid);
      assert.equal(hashObject(type, data), gitText(repo, ['rev-parse', oid]));
    }
  });

  test('parseCommit reads tree, parents and committer time', () => {
    const c = parseCommit(catFile('commit', commits[2]!));
    assert.equal(c.tree, gitText(repo, ['rev-parse', `${commits[2]}^{tree}`]));
    assert.deepEqual(c.parents, [commits[1]]);
    assert.equal(c.committerTime, 1700000120);
    assert.deepEqual(parseCommit(catFile('commit', commits[0]!)).parents, []);
  });

  test('parseCommit handles merges and multi-line headers', () => {
    const data = Buffer.from(
      `tree ${'a'.repeat(40)}\nparent ${'b'.repeat(40)}\nparent ${'c'.repeat(40)}\n` +
        `author A <a@x> 1 +0000\ncommitter C <c@x> 1700000999 -0130\n` +
        `gpgsig -----BEGIN PGP SIGNATURE-----\n tree ${'d'.repeat(40)}\n -----END PGP SIGNATURE-----\n\nmsg\n`,
    );
    assert.deepEqual(parseCommit(data), { tree: 'a'.repeat(40), parents: ['b'.repeat(40), 'c'.repeat(40)], committerTime: 1700000999 });
  });

  test('parseTree matches git ls-tree, modes as git stores them', () => {
    const tree = `${commits.at(-1)}^{tree}`;
    const expected = gitText(repo, ['ls-tree', tree])
      .split('\n')
      .map((line) => {
        const [meta, name] = line.split('\t') as [string, string];
        const [mode, , oid] = meta.split(' ') as [string, string, string];
        return { mode: mode.replace(/^0/, ''), name, oid };
      });
    const parsed = parseTree(catFile('tree', tree));
    assert.deepEqual(parsed, expected);
    assert.deepEqual(new Set(parsed.map((e) => e.mode)), new Set(['40000', '100755', '120000']));
  });

  test('treeLinks gives parseTree\'s modes and oids, and reads 040000 and 100664 as git does', () => {
    const data = catFile('tree', `${commits.at(-1)}^{tree}`);
    assert.deepEqual(treeLinks(data), parseTree(data).map(({ mode, oid }) => ({ mode, oid })));
    const oid = 'ab'.repeat(20);
    const relic = Buffer.concat([Buffer.from('040000 a\0'), Buffer.from(oid, 'hex'), Buffer.from('100664 b\0'), Buffer.from(oid, 'hex')]);
    assert.deepEqual(treeLinks(relic), [{ mode: '40000', oid }, { mode: '100644', oid }]);
    assert.deepEqual(parseTree(relic).map((e) => e.mode), ['40000', '100644']);
    assert.throws(() => treeLinks(Buffer.from('100644 \0' + 'x'.repeat(20))), GitFormatError);
  });

  test('a mode of more than 12 digits is read as git reads it, zero-padding and all', () => {
    // git's get_mode takes any number of octal digits (fsck only warns: zeroPaddedFilemode).
    const blob = gitText(repo, ['hash-object', '-w', '--stdin'], 'long mode\n');
    const data = Buffer.concat([Buffer.from('00000000000000100644 f\0'), Buffer.from(blob, 'hex')]);
    const tree = gitText(repo, ['hash-object', '-w', '--literally', '-t', 'tree', '--stdin'], data);
    assert.match(gitText(repo, ['ls-tree', tree]), /^100644 blob [0-9a-f]{40}\tf$/, 'native git reads it as a plain file');
    assert.deepEqual(treeLinks(data), [{ mode: '100644', oid: blob }]);
    assert.deepEqual(parseTree(data), [{ mode: '100644', name: 'f', oid: blob }]);
  });

  test('serializeTree sorts like git mktree (trees compare as name/)', () => {
    const blob = gitText(repo, ['hash-object', '-w', '--stdin'], 'x\n');
    const sub = gitText(repo, ['mktree'], `100644 blob ${blob}\tinner\n`);
    const entries: TreeEntry[] = [
      { mode: '40000', name: 'a', oid: sub },
      { mode: '100644', name: 'a.b', oid: blob },
      { mode: '100644', name: 'a-b', oid: blob },
      { mode: '100755', name: 'Z', oid: blob },
      { mode: '120000', name: 'link', oid: blob },
      { mode: '160000', name: 'module', oid: commits[0]! },
      { mode: '040000', name: 'ab', oid: sub },
    ];
    const lines = entries.map((e) => {
      const type = e.mode.endsWith('40000') ? 'tree' : e.mode === '160000' ? 'commit' : 'blob';
      return `${e.mode} ${type} ${e.oid}\t${e.name}\n`;
    });
    const expected = gitText(repo, ['mktree', '--missing'], lines.reverse().join(''));
    const data = serializeTree(entries);
    assert.equal(hashObject('tree', data), expected);
    assert.deepEqual(
      parseTree(data).map((e) => e.name),
      ['Z', 'a-b', 'a.b', 'a', 'ab', 'link', 'module'],
    );
    assert.equal(parseTree(data).find((e) => e.name === 'ab')!.mode, '40000');
  });

  test('serializeCommit matches git commit-tree', () => {
    const tree = gitText(repo, ['rev-parse', `${commits[1]}^{tree}`]);
    const who = 'Ada <ada@example.com> 1700000500 +0200';
    const message = 'deploy\n\nwith body\n';
    const data = serializeCommit({ tree, parents: [commits[0]!, commits[1]!], author: who, committer: who, message });
    const expected = git(repo, ['commit-tree', tree, '-p', commits[0]!, '-p', commits[1]!], message, {
      GIT_AUTHOR_DATE: '1700000500 +0200',
      GIT_COMMITTER_DATE: '1700000500 +0200',
    })
      .toString()
      .trim();
    assert.equal(hashObject('commit', data), expected);
    assert.deepEqual(parseCommit(data).parents, [commits[0], commits[1]]);
  });

  test('parseTag reads an annotated tag', () => {
    git(repo, ['tag', '-a', 'v1', '-m', 'release', commits[0]!], undefined, { GIT_COMMITTER_DATE: '1700000000 +0000' });
    const tag = parseTag(catFile('tag', 'v1'));
    assert.deepEqual(tag, { object: commits[0], type: 'commit' });
  });

  test('malformed input throws GitFormatError', () => {
    const bad: Array<() => unknown> = [
      () => parseTree(Buffer.from('100644 name')),
      () => parseTree(Buffer.concat([Buffer.from('100644 f\0'), Buffer.alloc(19)])),
      () => parseTree(Buffer.concat([Buffer.from('10x644 f\0'), Buffer.alloc(20)])),
      () => parseCommit(Buffer.from('author A <a> 1 +0000\n\nmsg')),
      () => parseCommit(Buffer.from(`tree ${'a'.repeat(40)}\ncommitter nobody\n\n`)),
      () => parseCommit(Buffer.from(`tree xyz\n\n`)),
      () => parseTag(Buffer.from(`object ${'a'.repeat(40)}\ntype sock\n\n`)),
      () => serializeTree([{ mode: '100644', name: 'a/b', oid: 'a'.repeat(40) }]),
      () => serializeTree([{ mode: '100600', name: 'a', oid: 'a'.repeat(40) }]),
      () => serializeTree([{ mode: '100644', name: 'a', oid: 'a'.repeat(40) }, { mode: '40000', name: 'a', oid: 'b'.repeat(40) }]),
      () => serializeCommit({ tree: 'a'.repeat(40), parents: [], author: 'no email 1 +0000', committer: 'A <a> 1 +0000', message: '' }),
    ];
    for (const fn of bad) assert.throws(fn, GitFormatError);
  });
});
