import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_APP_LIMITS } from '../../src/config/schema.ts';
import type { Config, RepoConfig, Role } from '../../src/config/types.ts';
import { ZERO_OID } from '../../src/git/refs.ts';
import { UserError } from '../../src/lib/errors.ts';
import { decide, mayLogIn, refusePush, requireAccess, visibleRepos } from '../../src/service/access.ts';

const branch = (name: string) => ({ name, runners: {}, env: {}, hooks: { build: null, maintenance: [] }, customCmds: {}, keepReleases: 3 });
const repo = (name: string): RepoConfig => ({ name, file: `repos/${name}.yml`, branches: { main: branch('main'), staging: branch('staging') }, limits: DEFAULT_APP_LIMITS });
const A = 'a'.repeat(40);

/** access.ts reads the users and the repos of a config, nothing else. */
function config(users: Record<string, Role> | null): Config {
  return { global: { users }, repos: { myapp: repo('myapp'), other: repo('other') } } as unknown as Config;
}
const withUsers = config({ root: { kind: 'admin' }, ci: { kind: 'deploy', repos: ['myapp'] }, intern: { kind: 'read', repos: ['myapp'] } });

test('a repo the user may not read gets the same answer as a missing one', () => {
  const hidden = decide(withUsers, 'intern', 'read', 'other');
  const missing = decide(withUsers, 'intern', 'read', 'nope');
  assert.deepEqual(hidden, { kind: 'not-found', message: "repository 'other' not found" });
  assert.deepEqual(missing, { kind: 'not-found', message: "repository 'nope' not found" });
  // Even for an action the user lacks: the repo's existence is not confirmed.
  assert.deepEqual(decide(withUsers, 'intern', 'push', 'other'), hidden);
  // An admin sees every repo, and still gets not-found for a missing one.
  assert.deepEqual(decide(withUsers, 'root', 'read', 'nope'), missing);
});

test('a visible repo with a missing right is forbidden: permission denied: <user> may not <action> <repo>', () => {
  assert.deepEqual(decide(withUsers, 'intern', 'push', 'myapp'), {
    kind: 'forbidden',
    message: 'permission denied: intern may not push to myapp',
  });
  assert.match((decide(withUsers, 'ci', 'delete-ref', 'myapp') as { message: string }).message, /^permission denied: ci may not delete refs of myapp$/);
  assert.match((decide(withUsers, 'ci', 'admin') as { message: string }).message, /^permission denied: ci may not run admin commands$/);
  assert.equal(decide(withUsers, 'ci', 'operate', 'myapp').kind, 'allowed');
  assert.equal(decide(withUsers, 'root', 'delete-ref', 'other').kind, 'allowed');
});

test('requireAccess throws the refusal as a user error with its kind as code', () => {
  assert.throws(() => requireAccess(withUsers, 'intern', 'read', 'other'), (e: unknown) => e instanceof UserError && e.code === 'not-found' && e.exitCode === 1);
  assert.throws(() => requireAccess(withUsers, 'intern', 'operate', 'myapp'), (e: unknown) => e instanceof UserError && e.code === 'forbidden');
  assert.doesNotThrow(() => requireAccess(withUsers, 'intern', 'read', 'myapp'));
});

test('who may log in is decided here: unlisted users may not, and everyone may without a users section', () => {
  assert.equal(mayLogIn(withUsers, 'stranger'), false);
  assert.equal(mayLogIn(withUsers, 'intern'), true);
  assert.equal(mayLogIn(config(null), 'anyone'), true);
  assert.equal(decide(withUsers, 'stranger', 'read', 'myapp').kind, 'forbidden');
  assert.deepEqual(visibleRepos(withUsers, 'ci'), ['myapp']);
  assert.deepEqual(visibleRepos(config(null), 'anyone'), ['myapp', 'other']);
});

test('a push may update configured branches and tags; deletes need admin; other refs are refused', () => {
  assert.equal(refusePush(withUsers, 'ci', 'myapp', { ref: 'refs/heads/main', old: ZERO_OID, new: A }), null);
  assert.equal(refusePush(withUsers, 'ci', 'myapp', { ref: 'refs/tags/v1', old: ZERO_OID, new: A }), null);
  assert.equal(
    refusePush(withUsers, 'root', 'myapp', { ref: 'refs/heads/dev', old: ZERO_OID, new: A }),
    "branch 'dev' is not configured for repo 'myapp' (configured: main, staging)",
  );
  assert.equal(refusePush(withUsers, 'ci', 'myapp', { ref: 'refs/heads/main', old: A, new: ZERO_OID }), 'permission denied: ci may not delete refs of myapp');
  assert.equal(refusePush(withUsers, 'root', 'myapp', { ref: 'refs/heads/main', old: A, new: ZERO_OID }), null);
  assert.equal(refusePush(withUsers, 'intern', 'myapp', { ref: 'refs/heads/main', old: ZERO_OID, new: A }), 'permission denied: intern may not push to myapp');
  assert.match(refusePush(withUsers, 'root', 'myapp', { ref: 'refs/notes/x', old: ZERO_OID, new: A })!, /not accepted/);
});
