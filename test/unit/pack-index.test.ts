import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { PackIndex, encodeIdx } from '../../src/git/pack-format.ts';

/** An idx of `n` made-up oids (sorted), each at offset 12 + 10 * i. */
function index(n: number): { idx: PackIndex; oids: Buffer[] } {
  const oids = Array.from({ length: n }, (_, i) => createHash('sha1').update(`o${i}`).digest()).sort(Buffer.compare);
  const buf = encodeIdx(
    { count: n, copyOid: (k, out, at) => void oids[k]!.copy(out, at), crc: () => 0, offset: (k) => 12 + 10 * k },
    Buffer.alloc(20),
  );
  return { idx: new PackIndex(buf, 'test.idx'), oids };
}

describe('PackIndex lookup', () => {
  for (const n of [0, 1, 3, 300, 70_000]) {
    test(`finds each of ${n} oids at its position, in place inside a larger buffer, and misses others`, () => {
      const { idx, oids } = index(n);
      oids.forEach((oid, i) => {
        assert.equal(idx.find(oid), i);
        assert.equal(idx.findAt(Buffer.concat([Buffer.from('tree entry\0'), oid]), 11), i);
        assert.equal(idx.offsetAt(i), 12 + 10 * i);
      });
      for (let i = 0; i < 200; i++) assert.equal(idx.find(createHash('sha1').update(`absent${i}`).digest()), -1);
      if (n > 0) {
        // Neighbours of a member (same prefix, one bit off at the end) are absent.
        const near = Buffer.from(oids[0]!);
        near[19] ^= 1;
        assert.equal(idx.find(near), oids.some((o) => o.equals(near)) ? oids.findIndex((o) => o.equals(near)) : -1);
        assert.equal(idx.find(Buffer.alloc(20, 0)), -1);
        assert.equal(idx.find(Buffer.alloc(20, 0xff)), -1);
      }
    });
  }
});
