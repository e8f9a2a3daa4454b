import fs from 'node:fs';
import path from 'node:path';
import { ObjectStore } from './object-store.ts';
import { indexPack, oidsOf, type IndexPackResult } from './pack-indexer.ts';
import { writePack } from './pack-writer.ts';
import type { Quarantine } from './repo.ts';

/**
 * Leaves in the quarantine only the pushed objects that accepted refs reach (`keep`): when some
 * refs of a push were refused, what only they brought (a malformed tree, say) must not enter the
 * repo. The pack is rewritten with the kept objects (stored deltas kept where their base is kept,
 * else the object is stored whole). Returns how many objects were dropped.
 */
export async function keepOnly(
  quarantine: Quarantine,
  received: IndexPackResult,
  keep: Set<string>,
  had: (oid: string) => boolean,
  repoObjects: string,
): Promise<number> {
  const dropped = oidsOf(received).filter((oid) => !keep.has(oid) && !had(oid)).length;
  if (dropped === 0) return 0;
  const original = [received.packFile, received.idxFile];
  if (keep.size > 0) {
    const store = new ObjectStore([quarantine.dir, repoObjects]);
    const tmp = path.join(quarantine.packDir, 'tmp_kept.pack');
    const outDir = fs.mkdtempSync(path.join(quarantine.dir, 'kept-'));
    try {
      const fh = await fs.promises.open(tmp, 'wx');
      try {
        await writePack([...keep], store, async (chunk) => void (await fh.write(chunk)), { ofsDelta: true });
        await fh.sync();
      } finally {
        await fh.close();
      }
      const result = await indexPack(tmp, { store, destDir: outDir });
      for (const f of original) fs.rmSync(f, { force: true });
      fs.renameSync(result.packFile, path.join(quarantine.packDir, path.basename(result.packFile)));
      fs.renameSync(result.idxFile, path.join(quarantine.packDir, path.basename(result.idxFile)));
    } finally {
      store.close();
      fs.rmSync(tmp, { force: true });
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  } else {
    for (const f of original) fs.rmSync(f, { force: true });
  }
  return dropped;
}
