import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutNpmPath } from '../../src/deploy/env.ts';

test('apps do not inherit the PATH entries npm start adds for slipway itself', () => {
  const npmPath = '/srv/slipway/node_modules/.bin:/srv/node_modules/.bin:/node_modules/.bin:/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin:/usr/local/bin:/usr/bin:/bin';
  assert.equal(withoutNpmPath({ PATH: npmPath, npm_lifecycle_event: 'start' }), '/usr/local/bin:/usr/bin:/bin');
});

test('without npm the PATH is kept as the admin set it', () => {
  assert.equal(withoutNpmPath({ PATH: '/opt/tools/node_modules/.bin:/usr/bin' }), '/opt/tools/node_modules/.bin:/usr/bin');
});
