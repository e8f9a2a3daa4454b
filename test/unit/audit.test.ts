import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ClientGoneError, UserError } from '../../src/lib/errors.ts';
import { logger } from '../../src/lib/log.ts';
import { AuditLog, type Actor, type AuditEntry } from '../../src/service/audit.ts';

const actor: Actor = { user: 'ci', fingerprint: 'SHA256:abc', address: '127.0.0.1:5000', via: 'ssh' };

function fresh(limits?: { maxBytes: number; keep: number }): { audit: AuditLog; lines: () => AuditEntry[]; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-audit-'));
  const audit = new AuditLog(dir, logger('audit-test'), limits);
  return { audit, dir, lines: () => fs.readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)) };
}

test('each outcome is one line: exit status, denials, usage, bugs and a client gone', async () => {
  const { audit, lines } = fresh();
  assert.equal(await audit.record(actor, { action: 'status' }, async () => 0, (c) => c), 0);
  await audit.record(actor, { action: 'custom_cmds', repo: 'hello', branch: 'main' }, async () => 4, (c) => c);
  const thrown = [
    new UserError('permission denied: ci may not run admin commands', 1, 'forbidden'),
    new UserError("repository 'x' not found", 1, 'not-found'),
    new UserError("unknown flag '-x'\nusage: list [--json]", 2, 'usage'),
    new UserError("unknown command 'x'; try 'help'", 127, 'unknown-command'),
    new UserError('deploy of hello/main in progress'),
    new ClientGoneError(),
    new TypeError('a bug'),
  ];
  for (const err of thrown) await assert.rejects(audit.record(actor, { action: 'x' }, async () => Promise.reject(err)), (e) => e === err);
  const got = lines().map((l) => [l.action, l.result, l.exit, l.message]);
  assert.deepEqual(got, [
    ['status', 'ok', 0, undefined],
    ['custom_cmds', 'failed', 4, undefined],
    ['x', 'denied', undefined, 'permission denied: ci may not run admin commands'],
    ['x', 'denied', undefined, "repository 'x' not found"],
    ['x', 'usage', undefined, "unknown flag '-x'"],
    ['x', 'unknown', undefined, "unknown command 'x'; try 'help'"],
    ['x', 'refused', undefined, 'deploy of hello/main in progress'],
    ['x', 'disconnected', undefined, undefined],
    ['x', 'error', undefined, undefined],
  ]);
  const first = lines()[0]!;
  assert.deepEqual([first.user, first.fingerprint, first.address, first.via], ['ci', 'SHA256:abc', '127.0.0.1:5000', 'ssh']);
});

test("a push's result comes from its refs, which the operation fills in", async () => {
  const { audit, lines } = fresh();
  const ref = { ref: 'refs/heads/main', old: '0'.repeat(40), new: 'a'.repeat(40) };
  await audit.record({ ...actor, via: 'git' }, { action: 'push', repo: 'r' }, async (s) => void (s.refs = [ref]));
  await audit.record({ ...actor, via: 'git' }, { action: 'push', repo: 'r' }, async (s) => void (s.refs = [ref, { ...ref, ref: 'refs/heads/x', error: 'deploy failed: build exited 3' }]));
  await audit.record({ ...actor, via: 'git' }, { action: 'push', repo: 'r' }, async (s) => void (s.refs = [{ ...ref, error: 'permission denied: ci may not delete refs of r' }]));
  assert.deepEqual(lines().map((l) => l.result), ['ok', 'failed', 'denied']);
  assert.deepEqual(lines()[0]!.refs, [ref]);
});

test('client text is cut and escaped by JSON; a line never spans two lines', async () => {
  const { audit, dir } = fresh();
  await audit.record(actor, { action: 'x', args: ['a\nb', 'y'.repeat(1000)] }, async () => 0, (c) => c);
  const text = fs.readFileSync(path.join(dir, 'audit.log'), 'utf8');
  assert.equal(text.split('\n').length, 2);
  const line = JSON.parse(text) as AuditEntry;
  assert.equal(line.args![0], 'a\nb');
  assert.equal(line.args![1], `${'y'.repeat(300)}…`);
});

test('the log rotates at its size limit and keeps a bounded number of files, and is private', async () => {
  const { audit, dir } = fresh({ maxBytes: 1000, keep: 2 });
  for (let i = 0; i < 40; i++) await audit.record(actor, { action: `a${i}` }, async () => 0, (c) => c);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['audit.log', 'audit.log.1', 'audit.log.2']);
  for (const f of fs.readdirSync(dir)) assert.ok(fs.statSync(path.join(dir, f)).size <= 1000, f);
  assert.equal(fs.statSync(path.join(dir, 'audit.log')).mode & 0o777, 0o600);
  const newest = fs.readFileSync(path.join(dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).action);
  assert.equal(newest.at(-1), 'a39');
  const older = fs.readFileSync(path.join(dir, 'audit.log.1'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).action);
  assert.equal(Number(older.at(-1)!.slice(1)) + 1, Number(newest[0]!.slice(1)), 'no line lost between files');
});
