import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadHostKeys } from '../../src/ssh/hostkeys.ts';

test('host keys are generated on first start, readable by OpenSSH, and reused afterwards', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-hostkeys-'));
  const first = loadHostKeys(dataDir);
  assert.deepEqual(first.map((k) => k.type), ['ed25519', 'ecdsa', 'rsa']);
  for (const k of first) {
    const file = path.join(dataDir, 'hostkeys', `ssh_host_${k.type}_key`);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    // ssh-keygen prints the same fingerprint for the public half that slipway announces.
    const printed = execFileSync('ssh-keygen', ['-lf', `${file}.pub`]).toString();
    assert.ok(printed.includes(k.fingerprint), `${printed} lacks ${k.fingerprint}`);
  }
  const again = loadHostKeys(dataDir);
  assert.deepEqual(again.map((k) => k.fingerprint), first.map((k) => k.fingerprint));
});

test('every generated ed25519 host key can be read back (ssh2 sometimes writes one it cannot parse)', () => {
  // About one key in 200 came out unreadable before: 1,200 fresh data dirs hit one with 99.7 % odds.
  for (let i = 0; i < 1200; i++) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-hostkeys-'));
    fs.mkdirSync(path.join(dataDir, 'hostkeys'));
    // Only the ed25519 key is generated each time; one real RSA key is copied in (generating it is slow).
    fs.copyFileSync(path.join(sharedRsa(), 'ssh_host_rsa_key'), path.join(dataDir, 'hostkeys', 'ssh_host_rsa_key'));
    fs.copyFileSync(path.join(sharedRsa(), 'ssh_host_rsa_key.pub'), path.join(dataDir, 'hostkeys', 'ssh_host_rsa_key.pub'));
    assert.doesNotThrow(() => loadHostKeys(dataDir));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

let rsaDir: string | undefined;
function sharedRsa(): string {
  if (!rsaDir) {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-hostkeys-rsa-'));
    loadHostKeys(d);
    rsaDir = path.join(d, 'hostkeys');
  }
  return rsaDir;
}
