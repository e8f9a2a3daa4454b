import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ObjectStore } from './object-store.ts';
import { indexPack } from './pack-indexer.ts';
import { PackIndex } from './pack-format.ts';
import { writePack } from './pack-writer.ts';

/** Above this many packs, a push's repo is repacked: lookups go through the packs one by one. */
export const MAX_PACKS = 16;

const running = new Set<string>();

/**
 * Merges every pack of a repo into one (stored deltas are kept: all bases travel along), then
 * removes the old packs: index files first, so a reader never finds an index without its pack.
 * Readers that opened the old packs keep reading them through their open descriptors. All objects
 * of the old packs are kept, referenced or not. Returns the number of packs merged (0: none).
 */
export async function repack(gitDir: string, maxPacks = MAX_PACKS): Promise<number> {
  if (running.has(gitDir)) return 0;
  const packDir = path.join(gitDir, 'objects', 'pack');
  const idxFiles = fs.readdirSync(packDir).filter((f) => /^pack-[0-9a-f]{40}\.idx$/.test(f));
  if (idxFiles.length <= maxPacks) return 0;
  running.add(gitDir);
  const tmp = path.join(packDir, `tmp_repack_${randomBytes(6).toString('hex')}.pack`);
  const store = new ObjectStore([path.join(gitDir, 'objects')]);
  try {
    const oids = new Set<string>();
    for (const f of idxFiles) {
      const idx = new PackIndex(fs.readFileSync(path.join(packDir, f)), f);
      for (let i = 0; i < idx.count; i++) oids.add(idx.oidAt(i));
    }
    const fh = await fs.promises.open(tmp, 'wx');
    try {
      await writePack([...oids], store, async (chunk) => {
        await fh.write(chunk);
      }, { ofsDelta: true });
      await fh.sync();
    } finally {
      await fh.close();
    }
    const result = await indexPack(tmp, { store, destDir: packDir });
    if (result.objectCount !== oids.size) throw new Error(`repack wrote ${result.objectCount} objects of ${oids.size}`);
    const kept = path.basename(result.idxFile);
    const old = idxFiles.filter((f) => f !== kept);
    for (const f of old) fs.rmSync(path.join(packDir, f), { force: true });
    for (const f of old) fs.rmSync(path.join(packDir, f.replace(/\.idx$/, '.pack')), { force: true });
    return old.length;
  } finally {
    store.close();
    fs.rmSync(tmp, { force: true });
    running.delete(gitDir);
  }
}
