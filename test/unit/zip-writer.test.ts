/**
 * The zip writer against native `git archive --format=zip` of the same tree, byte for byte where
 * no deflate is involved (deflated bytes depend on the zlib build; the e2e test compares zipinfo
 * listings and contents for those): every kind of entry, and more than 65,535 entries, which
 * needs the ZIP64 end records.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ZipWriter } from '../../src/lib/zip-writer.ts';
import { git, gitText, removeDir, tempDir } from './git-fixtures.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function bareRepo(): string {
  const dir = tempDir('zip');
  dirs.push(dir);
  git(dir, ['init', '-q', '--bare']);
  return dir;
}

/** What the writer makes of a commit's tree, walked as git archive walks it. */
function ours(dir: string, commit: string, level: number): Buffer {
  const time = Number(gitText(dir, ['log', '-1', '--format=%ct', commit]));
  const zip = new ZipWriter(time, level);
  const parts: Buffer[] = [];
  const blobs = new Map<string, Buffer>();
  const read = (oid: string) => blobs.get(oid) ?? blobs.set(oid, git(dir, ['cat-file', 'blob', oid])).get(oid)!;
  for (const line of git(dir, ['ls-tree', '-r', '-t', '-z', commit]).toString('utf8').split('\0').filter(Boolean)) {
    const [meta, name] = line.split('\t') as [string, string];
    const [mode, type, oid] = meta.split(' ') as [string, string, string];
    if (type === 'blob') parts.push(zip.entry(name, parseInt(mode, 8), read(oid)));
    else parts.push(zip.entry(`${name}/`, 0o040000, Buffer.alloc(0)));
  }
  parts.push(zip.end(commit));
  return Buffer.concat(parts);
}

const blob = (dir: string, data: string | Buffer) => gitText(dir, ['hash-object', '-w', '--stdin'], data);

test('files, executables, symlinks, directories, submodules and UTF-8 names are written as git archive writes them', () => {
  const dir = bareRepo();
  const text = blob(dir, 'hello\n'.repeat(50));
  const bin = blob(dir, Buffer.from([0, 1, 2, 3]));
  const empty = blob(dir, '');
  const link = blob(dir, 'a/b.txt');
  const sub = gitText(dir, ['mktree'], `100644 blob ${text}\tb.txt\n`);
  const tree = gitText(dir, ['mktree'], [
    `100644 blob ${text}\treadme.txt`,
    `100755 blob ${text}\trun.sh`,
    `100644 blob ${bin}\tdata.bin`,
    `100644 blob ${empty}\tempty`,
    `120000 blob ${link}\tlink`,
    `040000 tree ${sub}\ta`,
    `100644 blob ${text}\tünïcode.txt`,
    `160000 commit ${'1'.repeat(40)}\tvendor`,
  ].join('\n') + '\n');
  const commit = gitText(dir, ['commit-tree', tree, '-m', 'kinds']);
  assert.ok(ours(dir, commit, 0).equals(git(dir, ['archive', '--format=zip', '-0', commit])), 'the same bytes as git archive -0');
});

test('a commit from before 1980 gets the DOS date git writes for it', () => {
  const dir = bareRepo();
  const tree = gitText(dir, ['mktree'], `100644 blob ${blob(dir, 'old\n')}\told.txt\n`);
  const commit = git(dir, ['commit-tree', tree, '-m', 'old'], undefined, { GIT_COMMITTER_DATE: '@0 +0000', GIT_AUTHOR_DATE: '@0 +0000' }).toString().trim();
  assert.ok(ours(dir, commit, 0).equals(git(dir, ['archive', '--format=zip', '-0', commit])));
});

test('more than 65,535 entries get the ZIP64 end records git writes', () => {
  const dir = bareRepo();
  const empty = blob(dir, '');
  const lines = Array.from({ length: 70_000 }, (_, i) => `100644 blob ${empty}\tf${String(i).padStart(5, '0')}`);
  const tree = gitText(dir, ['mktree'], lines.join('\n') + '\n');
  const commit = gitText(dir, ['commit-tree', tree, '-m', 'many']);
  // Empty files are stored at any level: no deflate, so the bytes can be compared.
  const native = git(dir, ['archive', '--format=zip', commit]);
  const mine = ours(dir, commit, 6);
  assert.ok(mine.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'a ZIP64 end of central directory record');
  assert.ok(mine.equals(native), 'the same bytes as git archive');
});
