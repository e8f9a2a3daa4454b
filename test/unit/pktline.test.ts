import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodePkt, encodeSideband, MAX_SIDEBAND_PAYLOAD, PktLineError, PktReader, pktText } from '../../src/git/pktline.ts';

test('encodes a pkt-line with its 4-hex length prefix', () => {
  assert.equal(encodePkt('want abc\n').toString(), '000dwant abc\n');
});

test('reads packets split across arbitrary chunks', () => {
  const r = new PktReader();
  const wire = Buffer.concat([encodePkt('hello\n'), Buffer.from('0000'), encodePkt('x')]);
  const got: string[] = [];
  for (const byte of wire) {
    r.push(Buffer.from([byte]));
    for (let p = r.take(); p; p = r.take()) got.push(p.kind === 'data' ? pktText(p) : p.kind);
  }
  assert.deepEqual(got, ['hello', 'flush', 'x']);
});

test('hands back the bytes after the last packet (the pack)', () => {
  const r = new PktReader();
  r.push(Buffer.concat([Buffer.from('0000'), Buffer.from('PACK\0\0\0\x02')]));
  assert.deepEqual(r.take(), { kind: 'flush' });
  assert.equal(r.rest().subarray(0, 4).toString(), 'PACK');
});

test('rejects garbage and impossible lengths', () => {
  for (const bad of ['zzzz', '0003', 'ffff', '-001']) {
    const r = new PktReader();
    r.push(Buffer.from(bad + 'xxxxxxxx'));
    assert.throws(() => r.take(), PktLineError, bad);
  }
});

test('a truncated packet waits for more bytes instead of inventing data', () => {
  const r = new PktReader();
  r.push(Buffer.from('0010abc'));
  assert.equal(r.take(), null);
  assert.equal(r.buffered, 7);
});

test('side-band splits large payloads at the 64k limit', () => {
  const data = Buffer.alloc(MAX_SIDEBAND_PAYLOAD * 2 + 10, 7);
  const pkts = encodeSideband(1, data);
  assert.equal(pkts.length, 3);
  assert.equal(pkts[0]!.length, 65520);
  assert.equal(pkts[0]![4], 1);
});

test('refuses to encode an over-long payload', () => {
  assert.throws(() => encodePkt(Buffer.alloc(65520)), PktLineError);
});
