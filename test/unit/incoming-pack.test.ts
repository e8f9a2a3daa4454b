import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/config/schema.ts';
import { IncomingPack } from '../../src/git/incoming-pack.ts';
import { StreamReader } from '../../src/git/io.ts';
import { ObjectStore } from '../../src/git/object-store.ts';
import { indexPushedPack } from '../../src/git/index-off-thread.ts';
import { PackError, indexPack, oidsOf } from '../../src/git/pack-indexer.ts';
import { initBare, makeRepo, packRevs, removeDir, tempDir } from './git-fixtures.ts';

/** slipway.yml's default limits, which bound a push. */
const LIMITS = DEFAULT_LIMITS;
const work = tempDir('incoming');
after(() => removeDir(work));
const repo = join(work, 'src');
mkdirSync(repo);
makeRepo(repo, 6, 30);
// A big incompressible blob too: it is inflated piecewise as it arrives.
writeFileSync(join(repo, 'asset.bin'), randomBytes(3 << 20));
const { execFileSync } = await import('node:child_process');
execFileSync('git', ['add', '-A'], { cwd: repo });
execFileSync('git', ['-c', 'user.name=a', '-c', 'user.email=a@b', 'commit', '-qm', 'asset'], { cwd: repo });
const pack = packRevs(repo, ['main']);

let n = 0;
/**
 * Indexes `pack` as it is written to a stream in `chunk`-byte pieces, the stream never ended;
 * `onWorker`: as a push does with a big pack, on a worker thread with its checks.
 */
async function indexArriving(bytes: Buffer, chunk: number, after: Buffer = Buffer.alloc(0), opts: { onWorker?: boolean; maxBytes?: number } = {}) {
  const objects = initBare(join(work, `bare${n++}`));
  const stream = new PassThrough();
  const reader = new StreamReader(stream);
  const file = join(work, `incoming${n}.pack`);
  const fd = openSync(file, 'w');
  const store = new ObjectStore([objects]);
  const whole = Buffer.concat([bytes, after]);
  // The writer goes on in the background, a chunk per tick, and never ends the stream.
  void (async () => {
    for (let p = 0; p < whole.length; p += chunk) {
      stream.write(whole.subarray(p, p + chunk));
      await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    const source = new IncomingPack(fd, reader, opts.maxBytes ?? 1 << 30, 'too big');
    const destDir = join(objects, 'pack');
    if (opts.onWorker) {
      const result = await indexPushedPack({ packPath: file, destDir, storeDirs: [objects], limits: LIMITS }, source, () => {}, 0);
      return { result, received: source.bytes };
    }
    const result = await indexPack(file, { store, destDir, source });
    return { result, received: source.bytes };
  } finally {
    closeSync(fd);
    store.close();
  }
}

test('a pack arriving in small pieces on a stream that stays open is indexed, ending at its trailer', async () => {
  for (const chunk of [997, 65536, 1 << 20]) {
    const { result, received } = await indexArriving(pack, chunk);
    assert.equal(result.objectCount, pack.readUInt32BE(8));
    assert.equal(received, pack.length, `chunks of ${chunk}: read exactly the pack`);
    assert.ok(readFileSync(result.packFile).equals(pack));
  }
});

test('bytes after the trailer are refused', async () => {
  await assert.rejects(indexArriving(pack, 65536, Buffer.from('junk')), (err: unknown) => {
    assert.ok(err instanceof PackError);
    assert.match(err.message, /unexpected data after its \d+ objects/);
    return true;
  });
});

test('on a worker thread, the arriving pack is indexed as on the event loop and found sound', async () => {
  const here = await indexArriving(pack, 65536);
  const there = await indexArriving(pack, 65536, Buffer.alloc(0), { onWorker: true });
  assert.equal(there.received, pack.length);
  assert.deepEqual(oidsOf(there.result), oidsOf(here.result));
  assert.ok(readFileSync(there.result.packFile).equals(pack));
  assert.equal((there.result as Awaited<ReturnType<typeof indexPushedPack>>).check.doubt, null);
});

test('on a worker thread, a bad pack is refused with its reason, and a pack past its size bound with the bound', async () => {
  await assert.rejects(indexArriving(pack, 65536, Buffer.from('junk'), { onWorker: true }), (err: unknown) => {
    assert.ok(err instanceof PackError, String(err));
    assert.match(err.message, /unexpected data after its \d+ objects/);
    return true;
  });
  await assert.rejects(indexArriving(pack, 65536, Buffer.alloc(0), { onWorker: true, maxBytes: pack.length >> 1 }), (err: unknown) => {
    assert.ok(err instanceof PackError, String(err));
    assert.equal(err.message, 'too big');
    return true;
  });
});

test('on a worker thread, a pack that had wholly arrived, input ended, before the worker started is indexed', async () => {
  const objects = initBare(join(work, `bare${n++}`));
  const file = join(work, `complete${n}.pack`);
  writeFileSync(file, pack);
  const source = { ended: true, need: async () => pack.length };
  const result = await indexPushedPack({ packPath: file, destDir: join(objects, 'pack'), storeDirs: [objects], limits: LIMITS }, source, () => {}, 0);
  assert.equal(result.offThread, true);
  assert.equal(result.objectCount, pack.readUInt32BE(8));
});

test('the one indexing thread takes overlapping pushes side by side, and goes on after one of them is refused', async () => {
  const [a, bad, b] = await Promise.allSettled([
    indexArriving(pack, 997, Buffer.alloc(0), { onWorker: true }),
    indexArriving(pack, 4096, Buffer.from('junk'), { onWorker: true }),
    indexArriving(pack, 65536, Buffer.alloc(0), { onWorker: true }),
  ]);
  assert.equal(bad.status, 'rejected');
  assert.match(String((bad as PromiseRejectedResult).reason), /unexpected data after its \d+ objects/);
  for (const r of [a, b]) {
    assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
    const { result } = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof indexArriving>>>).value;
    assert.ok(readFileSync(result.packFile).equals(pack));
  }
  const after = await indexArriving(pack, 65536, Buffer.alloc(0), { onWorker: true });
  assert.equal(after.result.objectCount, pack.readUInt32BE(8));
});
