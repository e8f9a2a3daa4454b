/**
 * git's ref name rules, with native `git check-ref-format` as the oracle: every case of the table
 * must get the same verdict from slipway and from git (cases from git-check-ref-format(1) and
 * git's t1402-check-ref-format.sh).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { branchNameError, pushedRefNameError, refNameError } from '../../src/lib/ref-name.ts';
import { PathEscapeError, resolveInside } from '../../src/lib/paths.ts';

const VALID = [
  'heads/foo', 'foo/bar/baz', 'foo./bar', 'heads/foo@bar', 'heads/@', 'heads/a-b_c', 'tags/v1.0.0',
  'heads/héllo/wörld', 'heads/foo/bar.lockx', 'heads/x.lock.y', 'heads/{a}', 'heads/a}b', 'heads/a@b{c',
  'heads/-leading-dash', 'heads/HEAD', 'tags/1', 'refs/heads/main', 'heads/a.b.c',
];
const INVALID = [
  'foo', '', '@', '/heads/foo', 'heads/foo/', 'heads//foo', 'heads///foo', 'heads/foo.', 'heads/foo.lock',
  'heads/foo.lock/bar', 'foo.lock/bar', 'heads/.foo', './foo', '.refs/foo', 'heads/..', 'heads/foo..bar',
  '../../../../etc/passwd', 'tags/../../../../tmp/escaped-tag', 'tags/a..b', 'tags/at@{1}', 'heads/@{u}',
  'heads/foo bar', 'heads/foo~1', 'heads/foo^', 'heads/foo:bar', 'heads/foo?', 'heads/foo*', 'heads/foo[bar',
  'heads/foo\\bar', 'heads/foo\x01bar', 'heads/foo\x1b[31m', 'heads/foo\x7fbar', 'heads/tab\there', 'heads/nl\nhere',
  'heads/.lock', 'heads/foo/.', 'heads/foo/..', '/', 'heads/',
];

function gitAccepts(name: string, ...flags: string[]): boolean {
  const r = spawnSync('git', ['check-ref-format', ...flags, name]);
  assert.ok(r.status === 0 || r.status === 1, `git check-ref-format ${JSON.stringify(name)}: ${r.stderr}`);
  return r.status === 0;
}

describe('ref names as git check-ref-format judges them', () => {
  for (const name of VALID) {
    test(`accepted: ${JSON.stringify(name)}`, () => {
      assert.equal(refNameError(name), null);
      assert.equal(gitAccepts(name), true, 'the oracle disagrees with the table');
    });
  }
  for (const name of INVALID) {
    test(`refused: ${JSON.stringify(name)}`, () => {
      const reason = refNameError(name);
      assert.ok(reason, 'slipway accepted it');
      assert.doesNotMatch(reason, /[\x00-\x1f\x7f]/, 'the reason must be printable');
      if (name !== '') assert.equal(gitAccepts(name), false, 'the oracle disagrees with the table');
    });
  }

  test('a NUL byte is refused (git cannot even be asked: argv ends at NUL)', () => {
    assert.match(refNameError('heads/a\0b')!, /control character \(0x00\)/);
  });

  test('--allow-onelevel: one component is fine, the other rules still hold', () => {
    for (const name of ['foo', 'main', 'HEAD', '@x']) {
      assert.equal(refNameError(name, { allowOneLevel: true }), null, name);
      assert.equal(gitAccepts(name, '--allow-onelevel'), true, name);
    }
    for (const name of ['@', 'foo.', '.foo', 'a..b', 'x.lock']) {
      assert.ok(refNameError(name, { allowOneLevel: true }), name);
      assert.equal(gitAccepts(name, '--allow-onelevel'), false, name);
    }
  });

  test('the reasons say what is wrong', () => {
    assert.equal(refNameError('tags/a..b'), "contains '..'");
    assert.equal(refNameError('tags/at@{1}'), "contains '@{'");
    assert.equal(refNameError('heads/foo bar'), 'contains a space');
    assert.equal(refNameError('heads/a\x1bb'), 'contains a control character (0x1b)');
    assert.equal(refNameError('heads/foo.lock'), "has a component ending with '.lock' ('foo.lock')");
    assert.equal(refNameError('heads//x'), "contains '//'");
    assert.equal(refNameError('foo'), 'has only one component');
  });
});

describe('names receive-pack accepts', () => {
  test('only refs/<a>/<b>… whose rest is a valid name, as git receive-pack', () => {
    for (const ref of ['refs/heads/main', 'refs/tags/v1', 'refs/heads/feature/x', 'refs/notes/commits']) assert.equal(pushedRefNameError(ref), null, ref);
    assert.equal(pushedRefNameError(`refs/tags/${'x'.repeat(255)}`), null);
    assert.equal(pushedRefNameError(`refs/tags/${'x'.repeat(256)}`), 'has a component longer than 255 bytes');
    assert.equal(pushedRefNameError(`refs/tags/${'abcdefgh/'.repeat(120)}x`), 'is longer than 1024 bytes');
    for (const ref of ['HEAD', 'refs/main', 'refs/', 'heads/main', 'refs/tags/../../../../../tmp/x', 'refs//heads/x', 'refs/heads/a..b', '/refs/heads/x']) {
      assert.ok(pushedRefNameError(ref), ref);
    }
  });

  test('a deletion may name a one-level ref (refs/foo), as git receive-pack allows', () => {
    assert.equal(pushedRefNameError('refs/stash', { deleting: true }), null);
    assert.ok(pushedRefNameError('refs/stash'));
    assert.ok(pushedRefNameError('refs/../x', { deleting: true }));
  });

  test('branch names as git branch checks them (HEAD and a leading dash refused)', () => {
    assert.equal(branchNameError('main'), null);
    assert.equal(branchNameError('feature/x'), null);
    assert.equal(branchNameError('5.0'), null);
    assert.equal(branchNameError('HEAD'), "is 'HEAD'");
    assert.equal(branchNameError('-x'), "starts with '-'");
    assert.equal(branchNameError('a..b'), "contains '..'");
    for (const name of ['main', 'feature/x', 'HEAD', '-x']) {
      const r = spawnSync('git', ['check-ref-format', '--branch', name]);
      assert.equal(r.status === 0, branchNameError(name) === null, `git check-ref-format --branch ${name}`);
    }
  });
});

describe('a name that becomes a path stays inside its folder', () => {
  const root = '/srv/slipway/data';
  test('plain names and nested names resolve below the root', () => {
    assert.equal(resolveInside(root, 'repos', 'myapp.git'), '/srv/slipway/data/repos/myapp.git');
    assert.equal(resolveInside(root, 'tags/v1'), '/srv/slipway/data/tags/v1');
  });
  for (const [label, segments] of [
    ['..', ['..', 'etc']],
    ['.. inside a name', ['tags/../../x']],
    ['an absolute path', ['/etc/passwd']],
    ['the root itself', ['.']],
    ['an empty name', ['']],
    ['a NUL byte', ['a\0b']],
    ['a name longer than 255 bytes', ['x'.repeat(256)]],
    ['a trailing slash', ['a/']],
  ] as const) {
    test(`refused: ${label}`, () => {
      assert.throws(() => resolveInside(root, ...segments), PathEscapeError);
    });
  }
  test('a 255-byte name is still fine', () => {
    assert.equal(resolveInside(root, 'x'.repeat(255)), `${root}/${'x'.repeat(255)}`);
  });
});
