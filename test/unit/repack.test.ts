import assert from 'node:assert/strict';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { repack } from '../../src/git/repack.ts';
import { allObjects, git, gitText, initBare, listDir, makeRepo, packRevs, removeDir, tempDir, writeRef } from './git-fixtures.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

/** A bare repo holding one pack per commit of a 20-commit history, as 20 pushes would leave it. */
function buildRepoWithManyPacks(): { bare: string; commits: string[] } {
  const root = tempDir('repack');
  dirs.push(root);
  const work = join(root, 'work');
  mkdirSync(work);
  const commits = makeRepo(work, 20, 30);
  const bare = join(root, 'bare.git');
  initBare(bare);
  commits.forEach((c, i) => {
    const pack = packRevs(work, i === 0 ? [c] : [c, `^${commits[i - 1]}`]);
    git(bare, ['index-pack', '--stdin'], pack);
  });
  writeRef(bare, 'refs/heads/main', commits.at(-1)!);
  return { bare, commits };
}

let fixture: { bare: string; commits: string[] } | undefined;

/** A fresh copy of the one fixture (building it with git is the slow part; each test changes its copy). */
function repoWithManyPacks(): { bare: string; commits: string[] } {
  fixture ??= buildRepoWithManyPacks();
  const copy = join(tempDir('repack-copy'), 'bare.git');
  dirs.push(dirname(copy));
  cpSync(fixture.bare, copy, { recursive: true });
  return { bare: copy, commits: fixture.commits };
}

const idxCount = (bare: string) => listDir(join(bare, 'objects', 'pack')).filter((f) => f.endsWith('.idx')).length;

test('a repo with more packs than the limit is merged into one pack holding every object', async () => {
  const { bare, commits } = repoWithManyPacks();
  const before = allObjects(bare);
  assert.equal(idxCount(bare), 20);
  assert.equal(await repack(bare, 16), 20);
  assert.equal(idxCount(bare), 1);
  assert.deepEqual(allObjects(bare), before);
  assert.equal(gitText(bare, ['rev-list', '--count', 'main']), String(commits.length));
  git(bare, ['fsck', '--full', '--strict', '--no-dangling']);
  // Nothing but the one pack and its index is left in the pack dir.
  assert.equal(listDir(join(bare, 'objects', 'pack')).length, 2);
});

test('a repo at or under the limit is left as it is', async () => {
  const { bare } = repoWithManyPacks();
  assert.equal(await repack(bare, 20), 0);
  assert.equal(idxCount(bare), 20);
});
