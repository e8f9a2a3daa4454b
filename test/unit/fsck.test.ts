import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

/** Native git's verdict on an object with its default severities: an error, the warnings it prints, or clean. */
function nativeVerdict(type: ObjectType, data: Buffer): { ok: boolean; warnings: string[] } {
  const oid = gitText(work, ['hash-object', '-w', '--literally', '-t', type, '--stdin'], data);
  try {
    const r = spawnSync('git', ['fsck', '--no-dangling', oid], { cwd: work, encoding: 'utf8' });
    const warnings = [...r.stderr.matchAll(/warning in \w+ [0-9a-f]+: (\w+):/g)].map((m) => m[1]!);
    return { ok: r.status === 0, warnings };
  } finally {
    git(work, ['prune', '--expire=now']);
  }
}

type Verdict = 'accepted' | 'refused' | 'refused here, though git only warns';
const cases: { what: string; type: ObjectType; data: Buffer; verdict: Verdict; warnings?: string[] }[] = [
  { what: 'a real commit', type: 'commit', data: git(work, ['cat-file', 'commit', commits[1]!]), verdict: 'accepted' },
  { what: 'a real tree', type: 'tree', data: git(work, ['cat-file', 'tree', tree]), verdict: 'accepted' },
  { what: 'a commit with extra headers', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\nencoding latin1\n\nmsg\n`), verdict: 'accepted' },
  { what: 'a commit with no message and no blank line', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\n`), verdict: 'accepted' },
  { what: 'a commit with a NUL in its message', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\n\nm\0sg\n`), verdict: 'accepted', warnings: ['nulInCommit'] },
  { what: 'a commit with a NUL in its header', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\0\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit with an unterminated header', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}`), verdict: 'refused' },
  { what: 'a commit without author', type: 'commit', data: Buffer.from(`tree ${tree}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit with two authors', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\nauthor ${ident}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit whose date has a leading zero', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 01700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit with a bad time zone', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 1700000000 +00\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit with < in the name', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor A<da <a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit with no space before the email', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada<a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused' },
  { what: 'a commit with an empty name', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor  <a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'accepted' },
  { what: 'a tree entry named ..', type: 'tree', data: entry('100644', '..'), verdict: 'refused here, though git only warns' },
  { what: 'a tree entry named .GIT', type: 'tree', data: entry('100644', '.GIT'), verdict: 'refused here, though git only warns' },
  { what: 'a tree entry with an empty name', type: 'tree', data: entry('100644', ''), verdict: 'refused' },
  { what: 'a group-writable file mode (old gits wrote it)', type: 'tree', data: entry('100664', 'a'), verdict: 'accepted' },
  { what: 'an unusual file mode', type: 'tree', data: entry('100600', 'a'), verdict: 'accepted', warnings: ['badFilemode'] },
  { what: 'a zero-padded file mode', type: 'tree', data: entry('0100644', 'a'), verdict: 'accepted', warnings: ['zeroPaddedFilemode'] },
  { what: 'a zero-padded tree mode (040000, as in pallets/flask)', type: 'tree', data: entry('040000', 'a', tree), verdict: 'accepted', warnings: ['zeroPaddedFilemode'] },
  { what: 'a zero-padded tree sorted as a tree', type: 'tree', data: Buffer.concat([entry('100644', 'a.c'), entry('040000', 'a', tree)]), verdict: 'accepted', warnings: ['zeroPaddedFilemode'] },
  { what: 'a mode that is not octal', type: 'tree', data: entry('10064x', 'a'), verdict: 'refused' },
  { what: 'unsorted entries', type: 'tree', data: Buffer.concat([entry('100644', 'b'), entry('100644', 'a')]), verdict: 'refused' },
  { what: 'duplicate entries', type: 'tree', data: Buffer.concat([entry('100644', 'a'), entry('100644', 'a')]), verdict: 'refused' },
  { what: 'a tree sorted as a/ after a.c', type: 'tree', data: Buffer.concat([entry('100644', 'a.c'), entry('40000', 'a', tree)]), verdict: 'accepted' },
  { what: 'a tag', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\ntagger ${ident}\n\nrelease\n`), verdict: 'accepted' },
  { what: 'a tag without a tagger (early git)', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\n\nrelease\n`), verdict: 'accepted', warnings: ['missingTaggerEntry'] },
  { what: 'a tag with a malformed tagger', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\ntagger Ada 1700000000 +0000\n\nrelease\n`), verdict: 'refused' },
  { what: 'a tag without tag line', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntagger ${ident}\n\nrelease\n`), verdict: 'refused' },
  { what: 'a tag of an impossible type', type: 'tag', data: Buffer.from(`object ${B}\ntype thing\ntag v1\n\nx\n`), verdict: 'refused' },
];

for (const c of cases) {
  test(`${c.what} is ${c.verdict}${c.warnings ? ` (${c.warnings.join(', ')})` : ''}, as native git fsck decides with its default severities`, () => {
    const native = nativeVerdict(c.type, c.data);
    assert.equal(native.ok, c.verdict === 'accepted' || c.verdict === 'refused here, though git only warns', `the oracle disagrees with the case: ${JSON.stringify(native)}`);
    const report = fsckObject(c.type, c.data);
    if (c.verdict === 'accepted') {
      assert.equal(report.error, null);
      assert.deepEqual(report.warnings, c.warnings ?? []);
      assert.deepEqual(native.warnings, c.warnings ?? [], 'git warns about what slipway warns about');
    } else {
      assert.equal(typeof report.error, 'string');
      if (c.verdict !== 'refused') assert.ok(native.warnings.length > 0, 'git warns about it');
    }
  });
}
