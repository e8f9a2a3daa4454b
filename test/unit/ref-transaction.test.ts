import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { listRefs, RefTransaction, ZERO_OID } from '../../src/git/refs.ts';
import { git, gitText, makeRepo, removeDir, tempDir } from './git-fixtures.ts';

const root = tempDir('refs');
after(() => removeDir(root));
const work = join(root, 'work');
mkdirSync(work);
const commits = makeRepo(work, 3, 5);

/** A bare copy of the work repo's objects with no refs, for native git to read what we write. */
function bareRepo(name: string): string {
  const dir = join(root, name);
  git(root, ['clone', '-q', '--bare', work, dir]);
  git(dir, ['update-ref', '-d', 'refs/heads/main']);
  return dir;
}

test('hundreds of ref updates land in packed-refs in one write, and native git reads every one', () => {
  const dir = bareRepo('many');
  git(dir, ['update-ref', 'refs/tags/t007', commits[0]!]); // a loose ref the push moves
  git(dir, ['update-ref', 'refs/tags/stays', commits[0]!]);
  const tx = new RefTransaction(dir);
  const changes = Array.from({ length: 300 }, (_, i) => ({ ref: `refs/tags/t${String(i).padStart(3, '0')}`, old: i === 7 ? commits[0]! : ZERO_OID, new: commits[i % 3]! }));
  for (const c of changes) tx.lock(c);
  tx.lock({ ref: 'refs/tags/stays', old: commits[0]!, new: ZERO_OID });
  tx.commit();
  assert.equal(existsSync(join(dir, 'refs/tags/t007')), false, 'the loose file would override packed-refs');
  assert.equal(existsSync(join(dir, 'packed-refs.lock')), false);
  const native = gitText(dir, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/tags']);
  assert.deepEqual(native.split('\n'), changes.map((c) => `${c.new} ${c.ref}`));
  assert.deepEqual([...listRefs(dir)].map(([r, oid]) => `${oid} ${r}`), changes.map((c) => `${c.new} ${c.ref}`));
  git(dir, ['fsck', '--no-dangling']);
});

test('a few ref updates stay loose files, and a packed ref moves by a loose file that overrides it', () => {
  const dir = bareRepo('few');
  git(dir, ['update-ref', 'refs/heads/main', commits[0]!]);
  git(dir, ['pack-refs', '--all']);
  const tx = new RefTransaction(dir);
  tx.lock({ ref: 'refs/heads/main', old: commits[0]!, new: commits[2]! });
  tx.commit();
  assert.equal(readFileSync(join(dir, 'refs/heads/main'), 'utf8'), `${commits[2]}\n`);
  assert.equal(gitText(dir, ['rev-parse', 'refs/heads/main']), commits[2]);
});

test('packed-refs held by native git: many updates fall back to loose files', () => {
  const dir = bareRepo('locked');
  writeFileSync(join(dir, 'packed-refs.lock'), '');
  const tx = new RefTransaction(dir);
  for (let i = 0; i < 20; i++) tx.lock({ ref: `refs/tags/x${i}`, old: ZERO_OID, new: commits[0]! });
  tx.commit();
  assert.equal(readFileSync(join(dir, 'refs/tags/x3'), 'utf8'), `${commits[0]}\n`);
  assert.equal(existsSync(join(dir, 'packed-refs.lock')), true, 'native git keeps its lock');
});

/** What native `git update-ref` says about creating `ref` in `dir` (its D/F wording), or null when it could. */
function nativeRefusal(dir: string, ref: string, oid: string): string | null {
  const copy = join(root, `oracle-${Math.random().toString(36).slice(2)}`);
  git(root, ['clone', '-q', '--mirror', dir, copy]);
  try {
    git(copy, ['update-ref', ref, oid, ZERO_OID]);
    return null;
  } catch (err) {
    const m = /cannot lock ref '[^']+': (.*)/.exec(String((err as { stderr?: Buffer }).stderr ?? err));
    return m ? m[1]!.trim() : String(err);
  } finally {
    removeDir(copy);
  }
}

for (const how of ['loose', 'packed'] as const) {
  test(`a new ref below an existing ${how} ref, and above one, is refused in git's words and nothing changes`, () => {
    const dir = bareRepo(`df-${how}`);
    git(dir, ['update-ref', 'refs/heads/a', commits[0]!]);
    git(dir, ['update-ref', 'refs/heads/b/c', commits[0]!]);
    if (how === 'packed') git(dir, ['pack-refs', '--all', '--prune']);
    for (const [ref, message] of [
      ['refs/heads/a/b', "'refs/heads/a' exists; cannot create 'refs/heads/a/b'"],
      ['refs/heads/a/b/c', "'refs/heads/a' exists; cannot create 'refs/heads/a/b/c'"],
      ['refs/heads/b', "'refs/heads/b/c' exists; cannot create 'refs/heads/b'"],
    ] as const) {
      assert.equal(nativeRefusal(dir, ref, commits[1]!), message, 'the oracle');
      const tx = new RefTransaction(dir);
      assert.throws(() => tx.lock({ ref, old: ZERO_OID, new: commits[1]! }), (err: Error) => err.name === 'RefUpdateError' && err.message === message);
      tx.abort();
    }
    assert.equal(gitText(dir, ['for-each-ref', '--format=%(refname)']), 'refs/heads/a\nrefs/heads/b/c');
    git(dir, ['fsck', '--no-dangling']);
  });
}

test('two refs of one push that conflict: the second is refused, the first lands', () => {
  const dir = bareRepo('df-same-push');
  for (const [first, second] of [
    ['refs/heads/x', 'refs/heads/x/y'],
    ['refs/heads/p/q', 'refs/heads/p'],
  ] as const) {
    const tx = new RefTransaction(dir);
    tx.lock({ ref: first, old: ZERO_OID, new: commits[0]! });
    assert.throws(() => tx.lock({ ref: second, old: ZERO_OID, new: commits[1]! }), { name: 'RefUpdateError', message: `cannot process '${second}' and '${first}' at the same time` });
    tx.commit();
  }
  assert.equal(gitText(dir, ['for-each-ref', '--format=%(refname)']), 'refs/heads/p/q\nrefs/heads/x');
  git(dir, ['fsck', '--no-dangling']);
});

test('a ref where deleted refs left empty directories is created', () => {
  const dir = bareRepo('df-empty-dirs');
  git(dir, ['update-ref', 'refs/heads/old/deep/ref', commits[0]!]);
  const del = new RefTransaction(dir);
  del.lock({ ref: 'refs/heads/old/deep/ref', old: commits[0]!, new: ZERO_OID });
  del.commit();
  assert.ok(existsSync(join(dir, 'refs/heads/old/deep')), 'the empty directories stay after the delete');
  const tx = new RefTransaction(dir);
  tx.lock({ ref: 'refs/heads/old', old: ZERO_OID, new: commits[1]! });
  tx.commit();
  assert.equal(gitText(dir, ['rev-parse', 'refs/heads/old']), commits[1]);
});
