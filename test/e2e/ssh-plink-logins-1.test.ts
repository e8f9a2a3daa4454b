/**
 * 500 plink RSA logins all succeed, in two files of 250 (each file must finish within the
 * runner's timeout on a loaded machine): PuTTY sends RSA signatures without their leading zero
 * bytes about 1 in 256, so 500 logins meet one with 86 % odds (this file and ssh-plink-logins-2).
 * test/unit/ssh2-patches.test.ts checks such a signature for certain.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startInstance, type Instance } from './helpers/instance.ts';
import { MANY_LOGINS_YML, plinkRsaLogins } from './helpers/ssh-clients.ts';

let inst: Instance;
before(async () => {
  inst = await startInstance({ users: ['alice'], slipwayYml: MANY_LOGINS_YML });
});
after(() => inst.stop());

test('250 plink logins with a fresh RSA key all succeed', async () => {
  assert.deepEqual(await plinkRsaLogins(inst, 250), []);
});
