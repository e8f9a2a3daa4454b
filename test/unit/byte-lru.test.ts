import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ByteLru } from '../../src/git/byte-lru.ts';

describe('ByteLru', () => {
  const sized = () => new ByteLru<number, Buffer>(100, (b) => b.length);

  test('stays within its budget and drops what was not used since it was added first', () => {
    const lru = sized();
    for (let k = 0; k < 10; k++) lru.set(k, Buffer.alloc(10));
    lru.get(0);
    lru.get(1);
    lru.set(10, Buffer.alloc(10)); // over budget: evicts down to 75 bytes
    const kept = [...Array(11).keys()].filter((k) => lru.get(k) !== undefined);
    assert.ok(kept.length * 10 <= 100);
    assert.ok(kept.includes(0) && kept.includes(1) && kept.includes(10), `kept ${kept}`);
    assert.ok(!kept.includes(2) && !kept.includes(3));
  });

  test('ends an eviction pass when every entry was used', () => {
    const lru = sized();
    for (let k = 0; k < 10; k++) lru.set(k, Buffer.alloc(10));
    for (let k = 0; k < 10; k++) lru.get(k);
    lru.set(10, Buffer.alloc(10));
    assert.ok([...Array(11).keys()].filter((k) => lru.get(k) !== undefined).length <= 10);
  });

  test('does not keep a value larger than its item limit', () => {
    const lru = sized();
    lru.set(1, Buffer.alloc(26));
    assert.equal(lru.get(1), undefined);
  });
});
