import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ObjectStore } from '../../src/git/object-store.ts';
import { writePack } from '../../src/git/pack-writer.ts';
import { allObjects, git, gitText, initBare, makeRepo, removeDir, tempDir, writeRef } from './git-fixtures.ts';

describe('writePack', () => {
  let work: string;
  let repo: string;
  let commits: string[];
  /** the same history, packed by git gc (deltas) and unpacked (loose objects) */
  let packed: string;
  let loose: string;

  before(() => {
    work = tempDir('writer');
    repo = join(work, 'src');
    mkdirSync(repo);
    commits = makeRepo(repo, 8, 40);
    git(repo, ['gc', '-q', '--aggressive']);
    packed = join(repo, '.git', 'objects');
    loose = join(work, 'loose');
    initBare(loose);
    git(loose, ['unpack-objects', '-q'], git(repo, ['pack-objects', '--stdout', '--revs', '-q'], 'main\n'));
  });
  after(() => removeDir(work));

  const tip = () => commits.at(-1)!;
  const reachable = (revs: string[]) =>
    gitText(repo, ['rev-list', '--objects', '--stdin'], revs.join('\n') + '\n')
      .split('\n')
      .map((l) => l.slice(0, 40));

  async function pack(objectsDir: string, oids: string[], ofsDelta: boolean): Promise<Buffer> {
    const store = new ObjectStore([objectsDir]);
    const chunks: Buffer[] = [];
    let progress = 0;
    const write = async (chunk: Buffer) => {
      assert.ok(chunk.length <= 64 << 10);
      chunks.push(chunk);
      await new Promise((r) => setImmediate(r)); // a slow consumer
    };
    try {
      await writePack(oids, store, write, { ofsDelta, onProgress: (done) => void (progress = done) });
    } finally {
      store.close();
    }
    assert.equal(progress, oids.length);
    return Buffer.concat(chunks);
  }

  let n = 0;
  /** Indexes `data` with git into a fresh repo; returns verify-pack -v output after fsck passes. */
  function checkWithGit(data: Buffer, oids: string[], tipOid: string): { verify: string; codes: Set<number> } {
    const gitDir = join(work, `clone${n++}`);
    initBare(gitDir);
    const name = /pack\t([0-9a-f]{40})/.exec(gitText(gitDir, ['index-pack', '--stdin'], data))![1];
    const verify = gitText(gitDir, ['verify-pack', '-v', join(gitDir, 'objects', 'pack', `pack-${name}.idx`)]);
    writeRef(gitDir, 'refs/heads/main', tipOid);
    git(gitDir, ['fsck', '--full', '--strict', '--no-dangling']);
    assert.deepEqual(allObjects(gitDir), [...oids].sort());
    // Entry type codes, read at the offsets verify-pack lists.
    const codes = new Set<number>();
    for (const line of verify.split('\n')) {
      const m = /^[0-9a-f]{40} \w+ +\d+ \d+ (\d+)/.exec(line);
      if (m) codes.add((data[Number(m[1])]! >> 4) & 7);
    }
    return { verify, codes };
  }

  for (const ofsDelta of [true, false]) {
    test(`copies stored deltas as ${ofsDelta ? 'OFS' : 'REF'}_DELTA`, async () => {
      const oids = reachable(['main']);
      const data = await pack(packed, oids, ofsDelta);
      assert.equal(data.readUInt32BE(8), oids.length);
      const { verify, codes } = checkWithGit(data, oids, tip());
      assert.match(verify, /chain length = 2: \d+ object/);
      assert.ok(codes.has(ofsDelta ? 6 : 7), `has ${ofsDelta ? 'OFS' : 'REF'}_DELTA entries`);
      assert.ok(!codes.has(ofsDelta ? 7 : 6));
    });
  }

  test('puts delta bases first whatever the requested order', async () => {
    const oids = reachable(['main']).reverse();
    const data = await pack(packed, oids, true);
    const { codes } = checkWithGit(data, oids, tip());
    assert.ok(codes.has(6));
  });

  test('sends a delta whose base is not sent as a full object', async () => {
    const old = commits[5]!;
    const oids = reachable([tip(), `^${old}`]);
    const data = await pack(packed, oids, true);
    const gitDir = join(work, `partial${n++}`);
    initBare(gitDir);
    git(gitDir, ['index-pack', '--stdin'], data); // would fail on a thin pack
    assert.deepEqual(allObjects(gitDir), [...oids].sort());
  });

  test('deflates loose objects into a valid pack', async () => {
    const oids = reachable(['main']);
    const data = await pack(join(loose, 'objects'), oids, true);
    const { codes } = checkWithGit(data, oids, tip());
    assert.deepEqual([...codes].sort(), [1, 2, 3]);
  });

  test('writes an empty pack for no objects', async () => {
    const data = await pack(packed, [], true);
    assert.equal(data.length, 32);
    const gitDir = join(work, `empty${n++}`);
    initBare(gitDir);
    git(gitDir, ['index-pack', '--stdin'], data);
  });

  test('fails on a missing object', async () => {
    await assert.rejects(pack(packed, ['0'.repeat(40)], true), /object 0{40} is missing/);
  });
});
