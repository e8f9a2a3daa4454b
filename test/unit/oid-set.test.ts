import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { OidSet } from '../../src/git/oid-set.ts';

const oid = (i: number) => createHash('sha1').update(String(i)).digest();

describe('OidSet', () => {
  test('numbers members in the order added, finds them in place and keeps them as it grows', () => {
    const set = new OidSet(4);
    const n = 5000;
    for (let i = 0; i < n; i++) assert.equal(set.add(oid(i), 0), i);
    assert.equal(set.size, n);
    // An oid inside a larger buffer (as in a tree) is the same member.
    const tree = Buffer.concat([Buffer.from('100644 a\0'), oid(42), Buffer.from('40000 b\0'), oid(n)]);
    assert.equal(set.add(tree, 9), -1);
    assert.equal(set.has(tree, 9 + 20 + 8), false);
    assert.equal(set.add(tree, 9 + 20 + 8), n);
    for (let i = 0; i < n; i += 97) {
      assert.ok(set.has(oid(i), 0));
      assert.deepEqual(Buffer.from(set.bytes.subarray(i * 20, i * 20 + 20)), oid(i));
    }
  });

  test('oids that share the hashed bytes are told apart', () => {
    const set = new OidSet();
    const a = Buffer.alloc(20, 7);
    const b = Buffer.from(a);
    b[19] = 8;
    assert.equal(set.add(a, 0), 0);
    assert.equal(set.has(b, 0), false);
    assert.equal(set.add(b, 0), 1);
    assert.equal(set.add(a, 0), -1);
  });
});
