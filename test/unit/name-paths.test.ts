/**
 * Every place a name from a client or from config becomes a path: the repo's git dir, a branch's
 * state file, checkouts and logs, a runner's log file. Hostile names (`..`, absolute paths, NUL,
 * over-long) are refused before any file is touched.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReleaseStore } from '../../src/deploy/releases.ts';
import { logFileFor } from '../../src/deploy/specs.ts';
import { UserError } from '../../src/lib/errors.ts';
import { gitDirFor, repoNameFromPath } from '../../src/git/repo.ts';
import { refPath } from '../../src/git/refs.ts';
import { PathEscapeError } from '../../src/lib/paths.ts';

const DATA = '/srv/slipway/data';
const HOSTILE = ['..', '../other', '/etc/passwd', 'a\0b', 'x'.repeat(300), '.', ''];

describe('names that become paths stay inside the data dir', () => {
  test('a repo path from a client is a plain name or refused with a message', () => {
    for (const p of ["'../../etc'", '/etc/passwd', '..', 'a/b', 'a\0b', 'x'.repeat(201), '~/../x', '.hidden']) {
      assert.throws(() => repoNameFromPath(p), (e: unknown) => e instanceof UserError && /invalid repository path/.test(e.message) && !/[\0]/.test(e.message), p);
    }
    assert.equal(repoNameFromPath("/myapp.git"), 'myapp');
  });

  test('git dirs', () => {
    assert.equal(gitDirFor(DATA, 'myapp'), `${DATA}/repos/myapp.git`);
    for (const name of ['../x', '/abs', 'a\0b', 'x'.repeat(300)]) assert.throws(() => gitDirFor(DATA, name), PathEscapeError, name);
  });

  test('ref files', () => {
    assert.equal(refPath(`${DATA}/repos/a.git`, 'refs/tags/v1'), `${DATA}/repos/a.git/refs/tags/v1`);
    for (const ref of ['refs/tags/../../config', 'refs/../HEAD', 'HEAD', '/etc/x', 'refs/tags/a\0b', `refs/tags/${'x'.repeat(256)}`, 'refs/tags/']) {
      assert.throws(() => refPath(`${DATA}/repos/a.git`, ref), PathEscapeError, ref);
    }
  });

  test('branch state, checkouts and logs', () => {
    const store = new ReleaseStore(DATA);
    assert.equal(store.checkoutDir('myapp', 'feature/x', 'r1', 'a'.repeat(40)), `${DATA}/checkouts/myapp/feature%2Fx/r1-aaaaaaaaaaaa`);
    for (const bad of HOSTILE) {
      assert.throws(() => store.checkoutDir(bad, 'main', 'r1', 'a'.repeat(40)), PathEscapeError, `repo ${JSON.stringify(bad)}`);
      assert.throws(() => store.load(bad, 'main'), PathEscapeError, `state of repo ${JSON.stringify(bad)}`);
    }
    for (const bad of ['..', '.', '', 'a\0b', 'x'.repeat(300)]) {
      assert.throws(() => store.logDir('myapp', bad), PathEscapeError, `branch ${JSON.stringify(bad)}`);
      assert.throws(() => store.checkoutDir('myapp', bad, 'r1', 'a'.repeat(40)), PathEscapeError, `branch ${JSON.stringify(bad)}`);
    }
    // A slash in a branch is encoded, so even a climbing name stays one folder below logs/<repo>.
    assert.equal(store.logDir('myapp', '../../x'), `${DATA}/logs/myapp/..%2F..%2Fx`);
  });

  test('runner log files', () => {
    assert.equal(logFileFor(DATA, 'myapp', 'main', 'web', 0), `${DATA}/logs/myapp/main/web.0.log`);
    for (const runner of ['../../../../etc/cron.d/x', '/abs', 'a\0b', 'x'.repeat(300)]) {
      assert.throws(() => logFileFor(DATA, 'myapp', 'main', runner, 0), PathEscapeError, runner);
    }
  });
});
