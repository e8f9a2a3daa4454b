import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { inflateWhole } from '../../src/git/zlib-inflater.ts';

describe('inflateWhole', () => {
  const text = Buffer.from('tree entries and blobs '.repeat(200));
  const stream = deflateSync(text);

  test('inflates a stream followed by other bytes and says how many bytes it occupied', () => {
    const r = inflateWhole(Buffer.concat([stream, Buffer.from('next entry')]), text.length);
    assert.ok(typeof r === 'object' && 'data' in r);
    assert.ok(r.data.equals(text));
    assert.equal(r.consumed, stream.length);
  });

  test('tells a cut stream, a too large one and corrupt data apart, and goes on working after each', () => {
    assert.equal(inflateWhole(stream.subarray(0, stream.length - 5), text.length), 'truncated');
    assert.ok((inflateWhole(stream, text.length) as { data: Buffer }).data.equals(text));
    assert.equal(inflateWhole(stream, text.length - 1), 'too-large');
    const bad = Buffer.from(deflateSync(randomBytes(4096)));
    bad.fill(0xff, 10, 40);
    const r = inflateWhole(bad, 4096);
    assert.ok(typeof r === 'object' && 'corrupt' in r, `got ${JSON.stringify(r)}`);
    assert.ok((inflateWhole(stream, text.length) as { data: Buffer }).data.equals(text));
  });

  test('an empty object, and one above the size it allocates up front', () => {
    const empty = inflateWhole(deflateSync(Buffer.alloc(0)), 0);
    assert.ok(typeof empty === 'object' && 'data' in empty && empty.data.length === 0);
    const big = Buffer.alloc((16 << 20) + 10, 'x');
    const r = inflateWhole(deflateSync(big), big.length);
    assert.ok(typeof r === 'object' && 'data' in r && r.data.equals(big));
    // A header that claims far more than the stream holds does not allocate what it claims.
    const lying = inflateWhole(stream, 2 ** 40);
    assert.ok(typeof lying === 'object' && 'data' in lying && lying.data.equals(text));
  });
});
