import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { acquireDataDirLock, runningGateway } from '../../src/lib/data-lock.ts';
import { UserError } from '../../src/lib/errors.ts';

const dataDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-lock-'));
const pidFile = (d: string) => path.join(d, 'slipway.pid');

test('a pid file of a gateway that no longer runs is taken over', () => {
  const d = dataDir();
  fs.writeFileSync(pidFile(d), '999999999\n');
  acquireDataDirLock(d);
  assert.equal(fs.readFileSync(pidFile(d), 'utf8').trim(), String(process.pid));
});

test('a pid reused by another program is not mistaken for a gateway', () => {
  const d = dataDir();
  fs.writeFileSync(pidFile(d), '1\n');
  assert.equal(runningGateway(d), null);
  acquireDataDirLock(d);
  assert.equal(fs.readFileSync(pidFile(d), 'utf8').trim(), String(process.pid));
});

test('a running gateway keeps its data dir, with a message saying what to do', async (t) => {
  const d = dataDir();
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'slipway', 'serve'], { stdio: 'ignore' });
  t.after(() => other.kill('SIGKILL'));
  fs.writeFileSync(pidFile(d), `${other.pid}\n`);
  assert.equal(runningGateway(d), other.pid);
  assert.throws(() => acquireDataDirLock(d), (err: unknown) => err instanceof UserError && /is in use by another slipway \(pid \d+\); stop it first or use --data/.test(err.message));
});
