import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../../src/lib/errors.ts';
import { repoNameFromPath } from '../../src/git/repo.ts';
import { parseExec, splitWords } from '../../src/ssh/exec-parse.ts';

test('recognises every spelling git clients use for the git services', () => {
  const cases: [string, string, string][] = [
    ["git-receive-pack 'myapp'", 'git-receive-pack', 'myapp'],
    ["git receive-pack 'myapp.git'", 'git-receive-pack', 'myapp.git'],
    ['git-upload-pack /myapp', 'git-upload-pack', '/myapp'],
    ['git-upload-pack "myapp"', 'git-upload-pack', 'myapp'],
    ["git upload-pack '/my'\\''app'", 'git-upload-pack', "/my'app"],
  ];
  for (const [cmd, service, path] of cases) assert.deepEqual(parseExec(cmd), { kind: 'git', service, path }, cmd);
});

test('other commands become argv without any shell expansion', () => {
  assert.deepEqual(parseExec('logs myapp main -f'), { kind: 'command', argv: ['logs', 'myapp', 'main', '-f'] });
  assert.deepEqual(parseExec('echo $(id) `id` ; rm -rf /'), { kind: 'command', argv: ['echo', '$(id)', '`id`', ';', 'rm', '-rf', '/'] });
});

test('bad quoting and missing repo are user errors', () => {
  assert.throws(() => splitWords("a 'b"), UserError);
  assert.throws(() => splitWords('a "b'), UserError);
  assert.throws(() => parseExec('git-receive-pack'), /usage: git-receive-pack/);
  assert.throws(() => parseExec("git-upload-pack 'a' 'b'"), UserError);
});

test('repo paths are reduced to a plain name; traversal is refused', () => {
  assert.equal(repoNameFromPath('/myapp.git'), 'myapp');
  assert.equal(repoNameFromPath('~/myapp/'), 'myapp');
  assert.equal(repoNameFromPath('myapp'), 'myapp');
  for (const bad of ['../etc', '/etc/passwd', 'a/b', '..', '.hidden', '', 'a\0b', 'repos/../../x']) {
    assert.throws(() => repoNameFromPath(bad), UserError, bad);
  }
});
