import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ObjectStore } from '../../src/git/object-store.ts';
import { hashObject } from '../../src/git/objects.ts';
import { PackIndex, encodeIdx } from '../../src/git/pack-format.ts';
import { PackError, indexPack, oidsOf } from '../../src/git/pack-indexer.ts';
import { allObjects, git, gitText, initBare, listDir, makeRepo, packRevs, removeDir, tempDir, writeRef } from './git-fixtures.ts';

describe('indexPack', () => {
  let work: string;
  let repo: string;
  let commits: string[];

  before(() => {
    work = tempDir('indexer');
    repo = join(work, 'src');
    mkdirSync(repo);
    commits = makeRepo(repo, 8, 40);
  });
  after(() => removeDir(work));

  let n = 0;
  /** A fresh bare repo to index into, and a file holding `pack`. */
  function target(pack: Buffer): { gitDir: string; objects: string; packDir: string; packPath: string } {
    const gitDir = join(work, `bare${n++}`);
    const objects = initBare(gitDir);
    const packPath = join(work, `incoming${n}.pack`);
    writeFileSync(packPath, pack);
    return { gitDir, objects, packDir: join(objects, 'pack'), packPath };
  }

  /** verify-pack, fsck --strict with refs as plain files, and the object list, as git sees them. */
  function assertValidRepo(gitDir: string, idxFile: string, tip: string, expected: string[]): void {
    const verify = gitText(gitDir, ['verify-pack', '-v', idxFile]);
    assert.match(verify, /: ok$/);
    writeRef(gitDir, 'refs/heads/main', tip);
    git(gitDir, ['fsck', '--full', '--strict', '--no-dangling']);
    assert.deepEqual(allObjects(gitDir), expected);
  }

  const tip = () => commits.at(-1)!;
  const everything = () => allObjects(join(repo, '.git'));

  for (const [name, flags] of [
    ['OFS_DELTA', ['--delta-base-offset']],
    ['REF_DELTA', []],
  ] as const) {
    test(`indexes a full pack with ${name} deltas like git index-pack`, async () => {
      const pack = packRevs(repo, ['main'], [...flags]);
      const t = target(pack);
      const store = new ObjectStore([t.objects]);
      const phases = new Set<string>();
      const result = await indexPack(t.packPath, { store, destDir: t.packDir, onProgress: (p) => phases.add(p) });
      store.close();
      assert.equal(result.appendedBases, 0);
      assert.equal(result.objectCount, pack.readUInt32BE(8));
      assert.deepEqual(oidsOf(result), everything());
      assert.deepEqual(listDir(t.packDir), [`${result.packFile.split('/').pop()!.slice(0, -5)}.idx`, result.packFile.split('/').pop()].sort());
      assert.match(gitText(t.gitDir, ['verify-pack', '-v', result.idxFile]), /chain length = 2/, 'the pack has deltas');
      assertValidRepo(t.gitDir, result.idxFile, tip(), everything());
      // Byte for byte what git writes for the same pack.
      git(work, ['index-pack', '-o', join(work, 'native.idx'), t.packPath]);
      assert.ok(readFileSync(join(work, 'native.idx')).equals(readFileSync(result.idxFile)));
      assert.deepEqual([...phases].sort(), ['indexing', 'resolving']);
      assert.ok(readFileSync(t.packPath).equals(pack), 'the incoming file is left as it was');
    });
  }

  test('completes a thin pack with bases from the store', async () => {
    const old = commits[3]!;
    const t = target(packRevs(repo, [tip(), `^${old}`], ['--thin', '--delta-base-offset']));
    // The target already holds the older history, as a pack git wrote.
    git(t.gitDir, ['index-pack', '--stdin'], packRevs(repo, [old]));
    const before = allObjects(t.gitDir);
    assert.throws(() => git(work, ['index-pack', '-o', join(work, 'thin.idx'), t.packPath]), 'git itself rejects it');
    const quarantine = join(t.gitDir, 'quarantine');
    initBare(quarantine); // just for an objects/pack dir
    const qObjects = join(quarantine, 'objects');
    const store = new ObjectStore([qObjects, t.objects]);
    const result = await indexPack(t.packPath, { store, destDir: join(qObjects, 'pack'), onProgress: () => {} });
    store.close();
    assert.ok(result.appendedBases > 0, 'bases were appended');
    const sent = everything().filter((o) => !before.includes(o));
    const appended = oidsOf(result).filter((o) => !sent.includes(o));
    assert.ok(sent.every((o) => oidsOf(result).includes(o)), 'every pushed object is indexed');
    assert.equal(appended.length, result.appendedBases);
    assert.ok(appended.every((o) => before.includes(o)), 'appended bases come from the store');
    assert.equal(result.objectCount, oidsOf(result).length);
    // The completed pack stands alone: git can index and verify it without any other objects.
    const alone = join(work, 'alone');
    initBare(alone);
    git(alone, ['index-pack', '--stdin'], readFileSync(result.packFile));
    assert.match(gitText(t.gitDir, ['verify-pack', '-v', result.idxFile]), /: ok$/);
    git(t.gitDir, ['index-pack', '--stdin'], readFileSync(result.packFile));
    const nativeIdx = join(t.objects, 'pack', result.idxFile.split('/').pop()!);
    assert.ok(readFileSync(nativeIdx).equals(readFileSync(result.idxFile)), 'git writes the same idx for it');
    assertValidRepo(t.gitDir, nativeIdx, tip(), everything());
  });

  test('the object store reads every object git has, loose and packed', async () => {
    const t = target(packRevs(repo, ['main'], ['--delta-base-offset']));
    const store = new ObjectStore([t.objects], { cacheBytes: 64 << 10 });
    const result = await indexPack(t.packPath, { store, destDir: t.packDir });
    assert.equal(store.has(tip()), false, 'not before refresh');
    store.refresh();
    const batch = git(join(repo, '.git'), ['cat-file', '--batch'], oidsOf(result).join('\n') + '\n');
    let pos = 0;
    for (const oid of oidsOf(result)) {
      const nl = batch.indexOf(10, pos);
      const [, type, size] = batch.toString('latin1', pos, nl).split(' ') as [string, string, string];
      const data = batch.subarray(nl + 1, nl + 1 + Number(size));
      pos = nl + 2 + Number(size);
      const obj = store.read(oid);
      assert.ok(obj && obj.type === type && obj.data.equals(data), `object ${oid}`);
      assert.ok(store.has(oid));
      const entry = store.packedEntry(oid)!;
      assert.ok(entry.rawEnd > entry.rawStart);
      if (entry.kind !== 'full') assert.ok(oidsOf(result).includes(entry.baseOid!));
    }
    assert.equal(store.read('0'.repeat(40)), null);
    assert.equal(store.has('0'.repeat(40)), false);
    const oid = store.writeLoose('blob', Buffer.from('written by slipway\n'));
    assert.equal(oid, hashObject('blob', Buffer.from('written by slipway\n')));
    assert.equal(store.writeLoose('blob', Buffer.from('written by slipway\n')), oid);
    assert.deepEqual(store.read(oid), { type: 'blob', data: Buffer.from('written by slipway\n') });
    assert.equal(gitText(t.gitDir, ['cat-file', '-p', oid]), 'written by slipway');
    store.close();
  });

  test('a pack with no objects is valid and writes nothing', async () => {
    const t = target(git(repo, ['pack-objects', '--stdout', '-q'], ''));
    const store = new ObjectStore([t.objects]);
    const result = await indexPack(t.packPath, { store, destDir: t.packDir });
    store.close();
    assert.deepEqual(result, { packFile: '', idxFile: '', objectCount: 0, appendedBases: 0 });
    assert.deepEqual(listDir(t.packDir), []);
  });

  describe('rejects bad packs with a PackError and leaves nothing behind', () => {
    const good = () => packRevs(repo, ['main'], ['--delta-base-offset']);
    const cases: Array<[string, () => Buffer, RegExp]> = [
      ['truncated', () => good().subarray(0, Math.floor(good().length / 2)), /^pack is truncated: expected \d+ objects, got \d+$/],
      [
        'a header count that is too high',
        () => {
          const p = Buffer.from(good());
          p.writeUInt32BE(p.readUInt32BE(8) + 1, 8);
          return p;
        },
        /^pack is truncated: expected \d+ objects, got \d+$/,
      ],
      [
        'a header count that is too low',
        () => {
          const p = Buffer.from(good());
          p.writeUInt32BE(p.readUInt32BE(8) - 1, 8);
          return p;
        },
        /bytes of unexpected data after its \d+ objects/,
      ],
      [
        'a flipped byte in the checksum',
        () => {
          const p = Buffer.from(good());
          p[p.length - 1]! ^= 0xff;
          return p;
        },
        /^pack checksum mismatch$/,
      ],
      [
        'a flipped byte in object data',
        () => {
          const p = Buffer.from(good());
          p[Math.floor(p.length / 2)]! ^= 0x55;
          return p;
        },
        /corrupt zlib data|inflates to|checksum mismatch|delta/,
      ],
      ['a garbage signature', () => Buffer.concat([Buffer.from('JUNK'), good().subarray(4)]), /^pack header is not a git pack \(bad signature\)$/],
      ['an empty file', () => Buffer.alloc(0), /^pack is truncated/],
      ['a thin pack whose base is nowhere', () => packRevs(repo, [tip(), `^${commits[3]}`], ['--thin']), /^delta base [0-9a-f]{40} not found$/],
    ];
    for (const [name, make, message] of cases) {
      test(name, async () => {
        const t = target(make());
        const store = new ObjectStore([t.objects]);
        await assert.rejects(indexPack(t.packPath, { store, destDir: t.packDir }), (err: unknown) => {
          assert.ok(err instanceof PackError, String(err));
          assert.match(err.message, message);
          return true;
        });
        store.close();
        assert.deepEqual(listDir(t.packDir), []);
      });
    }
  });

  test('streams objects over 8 MiB, and still catches their truncation and corruption', async () => {
    const big = join(work, 'big');
    mkdirSync(big);
    git(big, ['init', '-q', '-b', 'main']);
    writeFileSync(join(big, 'asset.bin'), randomBytes(9 << 20));
    writeFileSync(join(big, 'small.txt'), 'small\n');
    git(big, ['add', '-A']);
    git(big, ['commit', '-q', '-m', 'asset']);
    const pack = packRevs(big, ['main']);
    const t = target(pack);
    const store = new ObjectStore([t.objects]);
    const result = await indexPack(t.packPath, { store, destDir: t.packDir });
    git(work, ['index-pack', '-o', join(work, 'big.idx'), t.packPath]);
    assert.ok(readFileSync(join(work, 'big.idx')).equals(readFileSync(result.idxFile)));
    const damaged: Array<[Buffer, RegExp]> = [
      [pack.subarray(0, 5 << 20), /PackError: pack is truncated: expected 4 objects, got \d$/],
      [Buffer.from(pack).fill(0x55, 3 << 20, (3 << 20) + 16), /PackError: .*corrupt zlib data/],
    ];
    for (const [bytes, message] of damaged) {
      const bad = target(bytes);
      await assert.rejects(indexPack(bad.packPath, { store, destDir: bad.packDir }), message);
      assert.deepEqual(listDir(bad.packDir), []);
    }
    store.close();
  });

  test('idx v2 round-trips offsets above 2 GiB through the 64-bit table', () => {
    const oids = Buffer.alloc(60);
    for (let i = 0; i < 3; i++) oids[i * 20] = i * 80;
    const offsets = new Float64Array([12, 2 ** 31 + 5, 5 * 2 ** 32 + 7]);
    const crcs = [1, 2, 0xffffffff];
    const entries = { count: 3, copyOid: (k: number, out: Buffer, at: number) => void oids.copy(out, at, k * 20, k * 20 + 20), crc: (k: number) => crcs[k]!, offset: (k: number) => offsets[k]! };
    const idx = new PackIndex(encodeIdx(entries, Buffer.alloc(20, 9)), 'test');
    assert.equal(idx.count, 3);
    for (let i = 0; i < 3; i++) {
      assert.equal(idx.find(oids.subarray(i * 20, i * 20 + 20)), i);
      assert.equal(idx.offsetAt(i), offsets[i]);
    }
    assert.equal(idx.crcAt(2), 0xffffffff);
    assert.equal(idx.find(Buffer.alloc(20, 1)), -1);
  });
});
