import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LimitError, PackBudget, deltaResultSize, messageRefusal, refsPerPushRefusal, treeEntriesRefusal, type PushLimits } from '../../src/git/push-limits.ts';

const limits: PushLimits = {
  maxObjectBytes: 1000,
  maxDeltaDepth: 3,
  maxPushInflatedBytes: 2500,
  maxRefsPerPush: 2,
  maxRefsPerRepo: 5,
  maxMessageBytes: 10,
  maxTreeEntries: 2,
};

test('an object larger than limits.max_object_size is refused from its declared size, naming the setting', () => {
  const b = new PackBudget(limits);
  b.object(1000, 'blob at offset 12');
  assert.throws(() => b.object(1001, 'blob at offset 99'), (e: unknown) => e instanceof LimitError
    && e.message === 'blob at offset 99 is 1001 bytes inflated, more than limits.max_object_size allows (1000 bytes; raise it in slipway.yml)');
});

test('the inflated total of a push is bounded by limits.max_push_inflated', () => {
  const b = new PackBudget(limits);
  b.object(1000, 'a');
  b.object(1000, 'b');
  assert.throws(() => b.object(600, 'c'), /the push inflates to 2.5 KiB or more, more than limits.max_push_inflated allows \(2.4 KiB;/);
});

test('delta chains deeper than limits.max_delta_depth are refused', () => {
  const b = new PackBudget(limits);
  b.depth(3, 'delta at offset 1');
  assert.throws(() => b.depth(4, 'delta at offset 2'), /delta at offset 2 ends a delta chain 4 deep, more than limits.max_delta_depth allows \(3;/);
});

test("a delta's result size is read from its header; a cut header is null", () => {
  assert.equal(deltaResultSize(Buffer.from([0x05, 0x80, 0x80, 0x01])), 16384);
  assert.equal(deltaResultSize(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07, 0x80, 0x80, 0x80, 0x80, 0x08])), 2 ** 31);
  assert.equal(deltaResultSize(Buffer.from([0x05, 0x80])), null);
  assert.equal(deltaResultSize(Buffer.alloc(0)), null);
});

test('tree entries are counted without parsing names, oids holding NUL bytes included', () => {
  const entry = (name: string) => Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.alloc(20)]); // an all-NUL oid
  assert.equal(treeEntriesRefusal('ab'.repeat(20), Buffer.concat([entry('a'), entry('b')]), limits), null);
  assert.match(treeEntriesRefusal('ab'.repeat(20), Buffer.concat([entry('a'), entry('b'), entry('c')]), limits)!, /^tree abababababab has 3 entries or more, more than limits.max_tree_entries allows \(2;/);
});

test('a commit message is measured after the header block', () => {
  const commit = (msg: string) => Buffer.from(`tree ${'a'.repeat(40)}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\n${msg}`);
  assert.equal(messageRefusal('commit', 'c'.repeat(40), commit('0123456789'), limits), null);
  assert.match(messageRefusal('commit', 'c'.repeat(40), commit('0123456789x'), limits)!, /^commit cccccccccccc has a 11 bytes message, more than limits.max_message_size allows/);
});

test('ref updates beyond limits.max_refs_per_push are refused', () => {
  assert.equal(refsPerPushRefusal(2, limits), null);
  assert.match(refsPerPushRefusal(3, limits)!, /^the push updates 3 refs or more, more than limits.max_refs_per_push allows \(2;/);
});
