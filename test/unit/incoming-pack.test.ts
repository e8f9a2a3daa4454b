import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { IncomingPack } from '../../src/git/incoming-pack.ts';
import { StreamReader } from '../../src/git/io.ts';
import { ObjectStore } from '../../src/git/object-store.ts';
import { PackError, indexPack } from '../../src/git/pack-indexer.ts';
import { initBare, makeRepo, packRevs, removeDir, tempDir } from './git-fixtures.ts';

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
/** Indexes `pack` as it is written to a stream in `chunk`-byte pieces, the stream never ended. */
async function indexArriving(bytes: Buffer, chunk: number, after: Buffer = Buffer.alloc(0)) {
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
    const source = new IncomingPack(fd, reader, 1 << 30, 'too big');
    const result = await indexPack(file, { store, destDir: join(objects, 'pack'), source });
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
