import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArchiveError, parseArchiveArgs } from '../../src/git/upload-archive.ts';
import { parseExec } from '../../src/ssh/exec-parse.ts';

test('git archive arguments: format, prefix, level, tree-ish and paths', () => {
  assert.deepEqual(parseArchiveArgs(['--format=tar.gz', '--prefix=app/', '-9', 'v1:docs', 'a', 'b/c']), { format: 'tar.gz', prefix: 'app/', level: 9, treeish: 'v1:docs', paths: ['a', 'b/c'] });
  assert.deepEqual(parseArchiveArgs(['--', 'main']), { format: 'tar', prefix: '', level: 6, treeish: 'main', paths: [] });
  assert.deepEqual(parseArchiveArgs(['--format=zip', '-0', 'main']), { format: 'zip', prefix: '', level: 0, treeish: 'main', paths: [] });
});

for (const [args, message] of [
  [[], /must specify a tree-ish/],
  [['--exec=sh', 'main'], /unknown option '--exec=sh'/],
  [['--remote=x', 'main'], /unknown option '--remote=x'/],
  [['--output=/etc/passwd', 'main'], /unknown option/],
  [['--format=rar', 'main'], /Unknown archive format 'rar'/],
  [['--prefix=../../', 'main'], /may not hold '\.\.'/],
] as const) {
  test(`git archive arguments ${JSON.stringify(args)} are refused: ${message}`, () => {
    assert.throws(() => parseArchiveArgs([...args]), (err: Error) => err instanceof ArchiveError && message.test(err.message));
  });
}

test("ssh's git-upload-archive command is a git service", () => {
  assert.deepEqual(parseExec("git-upload-archive '/myapp'"), { kind: 'git', service: 'git-upload-archive', path: '/myapp' });
  assert.deepEqual(parseExec("git upload-archive 'myapp.git'"), { kind: 'git', service: 'git-upload-archive', path: 'myapp.git' });
});
