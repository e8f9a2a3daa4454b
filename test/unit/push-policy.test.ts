import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RepoConfig, Role } from '../../src/config/types.ts';
import { DEFAULT_APP_LIMITS } from '../../src/config/schema.ts';
import { ZERO_OID } from '../../src/git/refs.ts';
import { refusePush } from '../../src/service/push-policy.ts';

const branch = (name: string) => ({ name, runners: {}, env: {}, hooks: { build: null, maintenance: [] }, customCmds: {}, keepReleases: 3 });
const repo: RepoConfig = { name: 'myapp', file: 'repos/myapp.yml', branches: { main: branch('main'), staging: branch('staging') }, limits: DEFAULT_APP_LIMITS };
const A = 'a'.repeat(40);
const admin: Role = { kind: 'admin' };
const deploy: Role = { kind: 'deploy', repos: ['myapp'] };
const read: Role = { kind: 'read', repos: ['myapp'] };

test('an unconfigured branch is refused with the configured list', () => {
  assert.equal(
    refusePush({ ref: 'refs/heads/dev', old: ZERO_OID, new: A }, repo, admin),
    "branch 'dev' is not configured for repo 'myapp' (configured: main, staging)",
  );
});

test('deploy users push branches and tags but may not delete', () => {
  assert.equal(refusePush({ ref: 'refs/heads/main', old: ZERO_OID, new: A }, repo, deploy), null);
  assert.equal(refusePush({ ref: 'refs/tags/v1', old: ZERO_OID, new: A }, repo, deploy), null);
  assert.match(refusePush({ ref: 'refs/heads/main', old: A, new: ZERO_OID }, repo, deploy)!, /admin/);
  assert.equal(refusePush({ ref: 'refs/heads/main', old: A, new: ZERO_OID }, repo, admin), null);
});

test('read users cannot push; other refs are refused for everyone', () => {
  assert.match(refusePush({ ref: 'refs/heads/main', old: ZERO_OID, new: A }, repo, read)!, /deploy or admin/);
  assert.match(refusePush({ ref: 'refs/notes/x', old: ZERO_OID, new: A }, repo, admin)!, /not accepted/);
});
