import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fsckObject } from '../../src/git/fsck.ts';
import type { ObjectType } from '../../src/git/objects.ts';
import { git, gitText, makeRepo, removeDir, tempDir } from './git-fixtures.ts';

const root = tempDir('fsck');
after(() => removeDir(root));
const work = join(root, 'work');
mkdirSync(work);
const commits = makeRepo(work, 3, 10);

const B = 'b'.repeat(40);
const blob = gitText(work, ['rev-parse', `${commits[0]}:run.sh`]);
const tree = gitText(work, ['rev-parse', `${commits[0]}^{tree}`]);
const ident = 'Ada <ada@example.com> 1700000000 +0000';
const entry = (mode: string, name: string, oid = blob) => Buffer.concat([Buffer.from(`${mode} ${name}\0`, 'latin1'), Buffer.from(oid, 'hex')]);

/** Native git's verdict on an object, in a repo that has everything it refers to. */
function nativeAccepts(type: ObjectType, data: Buffer): boolean {
  const oid = gitText(work, ['hash-object', '-w', '--literally', '-t', type, '--stdin'], data);
  try {
    git(work, ['fsck', '--strict', '--no-dangling', oid]);
    return true;
  } catch {
    return false;
  } finally {
    git(work, ['prune', '--expire=now']);
  }
}

const cases: { what: string; type: ObjectType; data: Buffer; ok: boolean }[] = [
  { what: 'a real commit', type: 'commit', data: git(work, ['cat-file', 'commit', commits[1]!]), ok: true },
  { what: 'a real tree', type: 'tree', data: git(work, ['cat-file', 'tree', tree]), ok: true },
  { what: 'a commit with extra headers', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\nencoding latin1\n\nmsg\n`), ok: true },
  { what: 'a commit without author', type: 'commit', data: Buffer.from(`tree ${tree}\ncommitter ${ident}\n\nmsg\n`), ok: false },
  { what: 'a commit whose date has a leading zero', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 01700000000 +0000\ncommitter ${ident}\n\nmsg\n`), ok: false },
  { what: 'a commit with a bad time zone', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 1700000000 +00\ncommitter ${ident}\n\nmsg\n`), ok: false },
  { what: 'a commit with < in the name', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor A<da <a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), ok: false },
  { what: 'a tree entry named ..', type: 'tree', data: entry('100644', '..'), ok: false },
  { what: 'a tree entry named .GIT', type: 'tree', data: entry('100644', '.GIT'), ok: false },
  { what: 'a group-writable file mode (old gits wrote it)', type: 'tree', data: entry('100664', 'a'), ok: true },
  { what: 'an unusual file mode', type: 'tree', data: entry('100600', 'a'), ok: true },
  { what: 'a mode with a zero-padded file mode', type: 'tree', data: entry('0100644', 'a'), ok: false },
  { what: 'a zero-padded tree mode', type: 'tree', data: entry('040000', 'a', tree), ok: false },
  { what: 'unsorted entries', type: 'tree', data: Buffer.concat([entry('100644', 'b'), entry('100644', 'a')]), ok: false },
  { what: 'duplicate entries', type: 'tree', data: Buffer.concat([entry('100644', 'a'), entry('100644', 'a')]), ok: false },
  { what: 'a tree sorted as a/ after a.c', type: 'tree', data: Buffer.concat([entry('100644', 'a.c'), entry('40000', 'a', tree)]), ok: true },
  { what: 'a tag', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\ntagger ${ident}\n\nrelease\n`), ok: true },
  { what: 'a tag without tag line', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntagger ${ident}\n\nrelease\n`), ok: false },
  { what: 'a tag of an impossible type', type: 'tag', data: Buffer.from(`object ${B}\ntype thing\ntag v1\n\nx\n`), ok: false },
];

for (const c of cases) {
  test(`${c.what} is ${c.ok ? 'accepted' : 'refused'}, as native git fsck --strict decides`, () => {
    assert.equal(nativeAccepts(c.type, c.data), c.ok, 'the oracle disagrees with the case');
    const problem = fsckObject(c.type, c.data);
    if (c.ok) assert.equal(problem, null);
    else assert.equal(typeof problem, 'string');
  });
}
