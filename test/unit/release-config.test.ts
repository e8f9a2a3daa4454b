import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BranchConfig } from '../../src/config/types.ts';
import { branchForRelease, configDigest, describeChanges, releaseConfigOf } from '../../src/deploy/release-config.ts';

const branch = (env: Record<string, string>, web: number, extra = false): BranchConfig => ({
  name: 'main',
  runners: {
    web: { name: 'web', type: 'NginxBackend', cmd: 'node server.js', processCount: web, healthcheck: { path: '/health', timeout: 5 } },
    ...(extra ? { worker: { name: 'worker', type: 'SimpleProcess' as const, cmd: 'node worker.js', processCount: 1 } } : {}),
  },
  env,
  hooks: { build: null, maintenance: [] },
  customCmds: {},
  keepReleases: 3,
});

test('a config change is named by env key and runner setting, never by env value', () => {
  const a = releaseConfigOf(branch({ GREETING: 'hello', OLD: 'x', TOKEN: 's3cret' }, 2, true));
  const b = releaseConfigOf(branch({ GREETING: 'bonjour', NEW: 'y', TOKEN: 's3cret' }, 1));
  const changes = describeChanges(a, b);
  assert.deepEqual(changes, ['env GREETING changed', 'env NEW added', 'env OLD removed', 'web process_count 2 -> 1', 'runner worker removed']);
  assert.doesNotMatch(changes.join(' '), /hello|bonjour|s3cret/);
  assert.deepEqual(describeChanges(a, a), []);
});

test('the digest depends on content, not on key order, and differs for any change', () => {
  const a = releaseConfigOf(branch({ A: '1', B: '2' }, 2));
  const reordered = releaseConfigOf(branch({ B: '2', A: '1' }, 2));
  assert.equal(configDigest(a), configDigest(reordered));
  assert.notEqual(configDigest(a), configDigest(releaseConfigOf(branch({ A: '1', B: '3' }, 2))));
  assert.notEqual(configDigest(a), configDigest(releaseConfigOf(branch({ A: '1', B: '2' }, 3))));
});

test("a release runs with its own env and process counts, keeping the branch's health check", () => {
  const old = releaseConfigOf(branch({ GREETING: 'hello' }, 2, true));
  const now = branch({ GREETING: 'bonjour' }, 1);
  const b = branchForRelease(now, old);
  assert.deepEqual(b.env, { GREETING: 'hello' });
  assert.equal(b.runners.web!.processCount, 2);
  assert.deepEqual(b.runners.web!.healthcheck, { path: '/health', timeout: 5 });
  assert.equal(b.runners.worker!.cmd, 'node worker.js', 'a runner the branch no longer has runs as recorded');
  assert.equal(branchForRelease(now, undefined), now, 'a release recorded before configs were: the branch config');
});
