import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientGoneError, reportInternal, SlipwayError, UserError } from '../../src/lib/errors.ts';
import type { Logger } from '../../src/lib/log.ts';

test('a bug is logged once with its stack under an id, and the user sees only that id', () => {
  const logged: { msg: string; fields: Record<string, unknown> }[] = [];
  const log = { error: (msg: string, fields: Record<string, unknown>) => logged.push({ msg, fields }) } as unknown as Logger;
  const line = reportInternal(log, new TypeError('x is undefined'), { user: 'alice' });
  const id = /^internal error \(id ([0-9a-f]{8})\)$/.exec(line)?.[1];
  assert.ok(id, line);
  assert.equal(logged.length, 1);
  assert.equal(logged[0]!.msg, 'internal error');
  assert.equal(logged[0]!.fields.id, id);
  assert.equal(logged[0]!.fields.user, 'alice');
  assert.match(String(logged[0]!.fields.error), /^TypeError: x is undefined\n\s+at /);
  assert.doesNotMatch(line, /TypeError|undefined/, 'nothing of the bug reaches the user');
});

test('errors say their kind by class and code, not by message', () => {
  const refused = new UserError("repository 'x' not found", 1, 'not-found');
  assert.ok(refused instanceof SlipwayError);
  assert.deepEqual([refused.code, refused.exitCode, refused.name], ['not-found', 1, 'UserError']);
  assert.deepEqual([new UserError('usage: x', 2).code, new UserError('usage: x', 2).exitCode], ['user', 2]);
  const gone = new ClientGoneError();
  assert.ok(gone instanceof SlipwayError && !(gone instanceof UserError));
  assert.equal(gone.code, 'client-gone');
});
