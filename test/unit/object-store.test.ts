import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ObjectStore } from '../../src/git/object-store.ts';
import { openPack, releasePack } from '../../src/git/pack-file.ts';
import { allObjects, git, gitText, initBare, makeRepo, removeDir, tempDir } from './git-fixtures.ts';

describe('ObjectStore', () => {
  let work: string;
  let repo: string;
  let objects: string;

  before(() => {
    work = tempDir('store');
    repo = join(work, 'src');
    mkdirSync(repo);
    makeRepo(repo, 12, 30);
    git(repo, ['tag', '-a', '-m', 'v1', 'v1']);
    git(repo, ['gc', '-q', '--aggressive']); // long delta chains, as in a real history
    objects = join(repo, '.git', 'objects');
  });
  after(() => removeDir(work));

  test('typeOf tells every object type as native git does, without reading the object, and null for an absent one', () => {
    const store = new ObjectStore([objects]);
    try {
      const oids = allObjects(join(repo, '.git'));
      const types = gitText(join(repo, '.git'), ['cat-file', '--batch-check=%(objecttype)'], oids.join('\n') + '\n').trim().split('\n');
      assert.ok(new Set(types).size === 4, 'the repo has all four types');
      oids.forEach((oid, i) => assert.equal(store.typeOf(oid), types[i], oid));
      assert.equal(store.typeOf('0'.repeat(40)), null);
    } finally {
      store.close();
    }
  });

  test('reads every object as native git does, first through the idx in place, then once the idx is read whole', () => {
    const store = new ObjectStore([objects]);
    try {
      const oids = allObjects(join(repo, '.git'));
      assert.ok(oids.length < 2048, 'the first pass is made before the idx is read whole');
      const sizes = gitText(join(repo, '.git'), ['cat-file', '--batch-check=%(objectsize)'], oids.join('\n') + '\n').trim().split('\n').map(Number);
      const blob = oids.find((oid) => store.typeOf(oid) === 'blob')!;
      const content = git(join(repo, '.git'), ['cat-file', 'blob', blob]);
      for (let pass = 0; pass * oids.length <= 2 * 2048; pass++) {
        oids.forEach((oid, i) => assert.equal(store.read(oid)?.data.length, sizes[i], `${oid} in pass ${pass}`));
        assert.ok(store.read(blob)!.data.equals(content));
        assert.equal(store.read('1'.repeat(40)), null);
      }
    } finally {
      store.close();
    }
  });

  test('stores share one open pack, also across a rename (a quarantine moved into the repo); the last to let go closes it', () => {
    const quarantine = initBare(join(work, 'quarantine'));
    const moved = initBare(join(work, 'moved'));
    const packDir = join(objects, 'pack');
    for (const f of readdirSync(packDir)) renameSync(join(packDir, f), join(quarantine, 'pack', f));
    const idx = readdirSync(join(quarantine, 'pack')).find((f) => f.endsWith('.idx'))!;
    const first = openPack(join(quarantine, 'pack', idx));
    for (const f of readdirSync(join(quarantine, 'pack'))) renameSync(join(quarantine, 'pack', f), join(moved, 'pack', f));
    const second = openPack(join(moved, 'pack', idx));
    assert.equal(second, first, 'the renamed pack is the same open pack');
    const oid = first.index.oidAt(0);
    releasePack(first);
    assert.equal(second.index.oidAt(0), oid);
    assert.ok(second.header(12), 'still readable while one store has it');
    releasePack(second);
    const third = openPack(join(moved, 'pack', idx));
    assert.notEqual(third, first, 'once the last store let go it was closed: opened afresh now');
    assert.equal(third.index.oidAt(0), oid);
    releasePack(third);
    for (const f of readdirSync(join(moved, 'pack'))) renameSync(join(moved, 'pack', f), join(packDir, f));
  });
});
