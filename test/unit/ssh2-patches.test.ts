/** The fixes carried as patches to ssh2 (patches/), checked on ssh2's own functions. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import ssh2 from 'ssh2';

test('an RSA signature without its leading zero bytes (as PuTTY sends it) verifies', () => {
  const pair = ssh2.utils.generateKeyPairSync('rsa', { bits: 1024 });
  const priv = ssh2.utils.parseKey(pair.private);
  const pub = ssh2.utils.parseKey(pair.public);
  assert.ok(!(priv instanceof Error) && !(pub instanceof Error));
  // About one signature in 256 starts with a zero byte; find one.
  let data: Buffer;
  let sig: Buffer;
  do {
    data = crypto.randomBytes(32);
    sig = priv.sign(data, 'sha256') as Buffer;
  } while (sig[0] !== 0);
  const short = sig.subarray(sig.findIndex((b) => b !== 0));
  assert.equal(pub.verify(data, short, 'sha256'), true);
  assert.equal(pub.verify(data, sig, 'sha256'), true);
  // Still a real check: a wrong short signature fails.
  const wrong = Buffer.from(short);
  wrong[wrong.length - 1] ^= 1;
  assert.equal(pub.verify(data, wrong, 'sha256'), false);
});
