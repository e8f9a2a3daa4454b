import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { enumerateObjects, SharedChunks, walkChunks, type EnumerateInput, type TreeWalker } from '../../src/git/enumerate.ts';
import { walkTreesOffThread } from '../../src/git/index-off-thread.ts';
import { ObjectStore } from '../../src/git/object-store.ts';
import { git, gitText, initBare, removeDir, tempDir } from './git-fixtures.ts';

/** A history of `commits` commits on main, each editing two of 60 files in 6 directories, built by fast-import. */
function history(gitDir: string, commits: number): void {
  const lines: string[] = [];
  for (let c = 1; c <= commits; c++) {
    const msg = `commit ${c}`;
    lines.push('commit refs/heads/main', `mark :${c}`, `committer A <a@example.com> ${1_700_000_000 + c * 60} +0000`, `data ${msg.length}`, msg);
    if (c > 1) lines.push(`from :${c - 1}`);
    for (const f of c === 1 ? Array.from({ length: 60 }, (_, i) => i) : [c % 60, (c * 7) % 60]) {
      const body = `file ${f} as of commit ${c}\n`;
      lines.push(`M 100644 inline d${f % 6}/e${f % 2}/f${f}.txt`, `data ${body.length}`, body.slice(0, -1));
    }
  }
  git(gitDir, ['fast-import', '--quiet'], lines.join('\n') + '\n');
}

test('SharedChunks hands each chunk out once, from the front and from the back, until they meet', () => {
  const trees = Array.from({ length: 1000 }, (_, i) => String(i));
  const chunks = new SharedChunks(trees, 64);
  assert.equal(chunks.count, 16);
  const other = new SharedChunks(trees, 64, chunks.word, false); // the other thread's view of the same word
  const got: number[] = [];
  for (let turn = 0; ; turn++) {
    const c = turn % 3 === 0 ? other.claim(true) : chunks.claim(false);
    if (c < 0) break;
    got.push(c);
  }
  assert.deepEqual([...got].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i));
  assert.equal(chunks.claim(false), -1);
  assert.equal(other.claim(true), -1);
  assert.deepEqual(chunks.chunk(15), trees.slice(960));
});

describe('enumerateObjects', () => {
  let work: string;
  let gitDir: string;
  let store: ObjectStore;
  let objectsDir: string;
  let tips: { main: string; old: string };
  const offThread: TreeWalker = (chunks, bounds) => walkTreesOffThread({ storeDirs: [objectsDir], trees: chunks.trees, chunkSize: chunks.chunkSize, word: chunks.word, bounds });
  /** objects a walker handed back */
  let handedBack = 0;
  /** The other thread's part played on this one (with its own store): the two interleave, so each walks chunks. */
  const interleaved: TreeWalker = async (chunks, bounds) => {
    const other = new ObjectStore([objectsDir]);
    try {
      const ids = await walkChunks(other, chunks, bounds);
      handedBack += ids.length / 20;
      return ids;
    } finally {
      other.close();
    }
  };
  const native = (...revs: string[]) => new Set(gitText(gitDir, ['rev-list', '--objects', ...revs]).split('\n').map((l) => l.slice(0, 40)));
  const input = (wants: string[], haves: string[] = []): EnumerateInput => ({ wants, haves, clientShallows: new Set(), plan: { stops: new Set(), shallow: [], unshallow: [] } });
  const sorted = (oids: Iterable<string>) => [...oids].sort();

  before(() => {
    work = tempDir('enumerate');
    gitDir = join(work, 'repo.git');
    objectsDir = initBare(gitDir);
    history(gitDir, 700);
    git(gitDir, ['repack', '-adq']);
    tips = { main: gitText(gitDir, ['rev-parse', 'main']), old: gitText(gitDir, ['rev-parse', 'main~600']) };
    store = new ObjectStore([objectsDir]);
  });
  after(() => {
    store.close();
    removeDir(work);
  });

  test('a full clone sends what git rev-list --objects lists, alone and with the walk shared', async () => {
    const expected = sorted(native(tips.main));
    const alone = await enumerateObjects(store, input([tips.main]));
    assert.equal(new Set(alone).size, alone.length, 'each object once');
    assert.deepEqual(sorted(alone), expected);
    handedBack = 0;
    const both = await enumerateObjects(store, input([tips.main]), { walker: interleaved, parallelAbove: 100, chunkCommits: 64 });
    assert.ok(handedBack > 0, 'the other walker walked a share');
    assert.equal(new Set(both).size, both.length, 'each object once, also what both walkers reached');
    assert.deepEqual(sorted(both), expected);
    const withThread = await enumerateObjects(store, input([tips.main]), { walker: offThread, parallelAbove: 100, chunkCommits: 64 });
    assert.deepEqual(sorted(withThread), expected);
  });

  test('the indexing thread walks the chunks left to it: the trees and blobs below them, not below the bounds', async () => {
    const trees = gitText(gitDir, ['log', '--format=%T', `${tips.old}..main`]).split('\n');
    const bound = gitText(gitDir, ['rev-parse', `${tips.old}^{tree}`]);
    const chunks = new SharedChunks(trees, 64);
    const ids = Buffer.from(await walkTreesOffThread({ storeDirs: [objectsDir], trees, chunkSize: 64, word: chunks.word, bounds: [bound] }));
    const got = Array.from({ length: ids.length / 20 }, (_, k) => ids.toString('hex', k * 20, k * 20 + 20));
    const commits = new Set(gitText(gitDir, ['rev-list', `${tips.old}..main`]).split('\n'));
    assert.equal(new Set(got).size, got.length);
    assert.deepEqual(sorted(got), sorted([...native(tips.main, `^${tips.old}`)].filter((o) => !commits.has(o))));
  });

  test('a fetch with haves sends what the client lacks, the walk shared', async () => {
    const got = await enumerateObjects(store, input([tips.main], [tips.old]), { walker: interleaved, parallelAbove: 100, chunkCommits: 64 });
    assert.deepEqual(sorted(got), sorted(native(tips.main, `^${tips.old}`)));
  });

  test('when the other thread fails, this one walks every chunk it did not walk itself', async () => {
    let claimed = 0;
    const failing: TreeWalker = async (chunks) => {
      for (let i = 0; i < 3 && chunks.claim(true) >= 0; i++) claimed++;
      throw new Error('the thread died');
    };
    const got = await enumerateObjects(store, input([tips.main]), { walker: failing, parallelAbove: 100, chunkCommits: 64 });
    assert.ok(claimed > 0, 'the failing walker had claimed chunks');
    assert.equal(new Set(got).size, got.length);
    assert.deepEqual(sorted(got), sorted(native(tips.main)));
  });
});
