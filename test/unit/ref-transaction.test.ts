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
