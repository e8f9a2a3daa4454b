import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/config/schema.ts';
import { hashObject, serializeTree, type ObjectType, type TreeEntry } from '../../src/git/objects.ts';
import { PackObjectCheck } from '../../src/git/pack-check.ts';
import { OidTable } from '../../src/git/oid-table.ts';

const CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };
const IDENT = 'Ada <ada@example.com> 1700000000 +0000';

/** A pack's objects as the indexer hands them over, then its links checked against the pack and a repo. */
function judge(objects: Array<[ObjectType, Buffer]>, repo: string[] = []): string | null {
  const check = new PackObjectCheck();
  const inPack = new Map<string, number>();
  for (const [type, data] of objects) {
    check.object(CODES[type], data);
    inPack.set(hashObject(type, data), CODES[type]);
  }
  check.verifyLinks((k) => inPack.get(check.ids.hex(k)) ?? 0, (oid) => repo.includes(oid));
  return check.doubt;
}

const blob = (s: string): [ObjectType, Buffer] => ['blob', Buffer.from(s)];
const tree = (entries: TreeEntry[]): [ObjectType, Buffer] => ['tree', serializeTree(entries)];
const commit = (treeOid: string, parents: string[] = []): [ObjectType, Buffer] => [
  'commit',
  Buffer.from(`tree ${treeOid}\n${parents.map((p) => `parent ${p}\n`).join('')}author ${IDENT}\ncommitter ${IDENT}\n\nmsg\n`),
];
const tag = (object: string, type: ObjectType): [ObjectType, Buffer] => ['tag', Buffer.from(`object ${object}\ntype ${type}\ntag v1\ntagger ${IDENT}\n\nv1\n`)];
const oid = ([type, data]: [ObjectType, Buffer]) => hashObject(type, data);

test('a complete, sound pack needs no closer look; links into the repo count as present', () => {
  const b = blob('hello\n');
  const sub = tree([{ mode: '100644', name: 'a.txt', oid: oid(b) }]);
  const root = tree([{ mode: '40000', name: 'src', oid: oid(sub) }, { mode: '160000', name: 'vendor', oid: 'e'.repeat(40) }]);
  const parentInRepo = 'a'.repeat(40);
  const c = commit(oid(root), [parentInRepo]);
  assert.equal(judge([b, sub, root, c, tag(oid(c), 'commit')], [parentInRepo]), null);
});

test('a link to an object neither the pack nor the repo has is doubted', () => {
  const root = tree([{ mode: '100644', name: 'a.txt', oid: 'b'.repeat(40) }]);
  assert.equal(judge([root, commit(oid(root))]), 'a link to a missing object');
  const sound = tree([]);
  assert.equal(judge([sound, commit(oid(sound), ['c'.repeat(40)])]), 'a link to a missing object');
});

test('a link to an object of another type than it names is doubted', () => {
  const b = blob('x');
  const root = tree([{ mode: '40000', name: 'dir', oid: oid(b) }]);
  assert.equal(judge([b, root, commit(oid(root))]), 'a link to an object of another type');
  const t = tree([]);
  assert.equal(judge([t, commit(oid(t), [oid(t)])]), 'a link to an object of another type');
  assert.equal(judge([t, tag(oid(t), 'commit')]), 'a link to an object of another type');
});

test('an object git fsck refuses, or one that could not be checked, is doubted', () => {
  const b = blob('x');
  assert.equal(judge([b, tree([{ mode: '100644', name: '.git', oid: oid(b) }])]), 'an object git fsck refuses');
  const check = new PackObjectCheck();
  check.unchecked();
  assert.equal(check.doubt, 'an object too large to check while indexing');
});

test('bounds on messages and tree entries are doubted, for the walk to name', () => {
  const limits = { ...DEFAULT_LIMITS, maxMessageBytes: 4, maxTreeEntries: 1 };
  const b = blob('x');
  const one = tree([{ mode: '100644', name: 'a', oid: oid(b) }]);
  const within = new PackObjectCheck(limits);
  within.object(2, one[1]);
  within.object(1, commit(oid(one))[1]); // its message "msg\n" is 4 bytes
  assert.equal(within.doubt, null);
  const long = new PackObjectCheck({ ...limits, maxMessageBytes: 3 });
  long.object(1, commit(oid(one))[1]);
  assert.equal(long.doubt, 'a message above its bound');
  const wide = new PackObjectCheck(limits);
  wide.object(2, tree([{ mode: '100644', name: 'a', oid: oid(b) }, { mode: '100644', name: 'b', oid: oid(b) }])[1]);
  assert.equal(wide.doubt, 'a tree above its bound');
});

test('the oid table finds what it holds, by bytes and by hex, across growth', () => {
  const table = new OidTable();
  const hexes = Array.from({ length: 5000 }, (_, i) => hashObject('blob', Buffer.from(String(i))));
  const insertHex = (h: string) => table.insert(Buffer.from(h, 'hex'), 0);
  for (const h of hexes) insertHex(h);
  assert.equal(table.size, 5000);
  assert.equal(insertHex(hexes[42]!), 42, 'inserting again finds the first');
  assert.equal(table.size, 5000);
  for (const [i, h] of hexes.entries()) assert.equal(table.findHex(h), i);
  assert.equal(table.findHex('0'.repeat(40)), -1);
  assert.equal(table.hex(7), hexes[7]);
  assert.equal(Math.sign(table.compare(1, 2)), hexes[1]! < hexes[2]! ? -1 : 1);
});
