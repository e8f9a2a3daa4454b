import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { IdxProbe, PackIndex, encodeIdx } from '../../src/git/pack-format.ts';

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

describe('IdxProbe (the idx looked up in place)', () => {
  for (const n of [0, 1, 3, 300, 20_000]) {
    test(`finds each of ${n} oids' offsets, below and above 2 GiB, with small reads, and misses others`, () => {
      const oids = Array.from({ length: n }, (_, i) => createHash('sha1').update(`p${i}`).digest()).sort(Buffer.compare);
      const offsetOf = (k: number) => (k % 2 ? 2 ** 33 + k : 12 + 10 * k);
      const file = encodeIdx({ count: n, copyOid: (k, out, at) => void oids[k]!.copy(out, at), crc: () => 0, offset: offsetOf }, Buffer.alloc(20, 7));
      let biggest = 0;
      const probe = new IdxProbe((buf, pos) => {
        biggest = Math.max(biggest, buf.length);
        assert.ok(pos + buf.length <= file.length, 'reads stay inside the file');
        file.copy(buf, 0, pos, pos + buf.length);
      }, file.length, 'test.idx');
      assert.equal(probe.count, n);
      assert.ok(probe.packChecksum.equals(Buffer.alloc(20, 7)));
      biggest = 0;
      oids.forEach((oid, k) => assert.equal(probe.offsetOf(Buffer.concat([Buffer.from('entry\0'), oid]), 6), offsetOf(k)));
      for (let i = 0; i < 200; i++) assert.equal(probe.offsetOf(createHash('sha1').update(`absent${i}`).digest(), 0), -1);
      assert.equal(probe.offsetOf(Buffer.alloc(20, 0xff), 0), -1);
      assert.ok(biggest <= 20, `lookups read ${biggest} bytes at a time`);
    });
  }

  test('a file that is not an idx, or is cut short, is refused by name', () => {
    const file = encodeIdx({ count: 10, copyOid: (k, out, at) => void out.fill(k, at, at + 20), crc: () => 0, offset: () => 12 }, Buffer.alloc(20));
    const open = (buf: Buffer) => new IdxProbe((b, pos) => void buf.copy(b, 0, pos, pos + b.length), buf.length, 'x.idx');
    assert.throws(() => open(Buffer.alloc(2000)), /x\.idx is not a version 2 pack index/);
    assert.throws(() => open(file.subarray(0, file.length - 100)), /x\.idx is truncated/);
  });
});
