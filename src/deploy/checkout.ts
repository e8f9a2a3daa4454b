import fs from 'node:fs';
import path from 'node:path';
import type { ObjectStore } from '../git/object-store.ts';
import { parseCommit, parseTree } from '../git/objects.ts';
import { UserError } from '../lib/errors.ts';
import { checkCheckoutBounds, type CheckoutLimits } from './checkout-limits.ts';
import { printable } from '../lib/text.ts';

const tick = () => new Promise((r) => setImmediate(r));

/** A tree entry name that could leave the checkout (or shadow git itself) is refused, never written. */
function checkName(name: string, where: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.toLowerCase() === '.git') {
    throw new UserError(`refusing to check out unsafe path '${where}${printable(name)}'`);
  }
}

export interface ExportResult {
  files: number;
  submodules: string[];
  /** symlinks not written because they point outside the checkout (`path -> target`) */
  outsideLinks: string[];
}

/**
 * Writes the tree of `commit` into `dest` (which must not exist): no `.git`, executable bits and
 * symlinks kept. It is built under a temporary name and renamed at the end, so `dest` either is
 * complete or does not exist.
 */
export async function exportCommit(store: ObjectStore, commit: string, dest: string, limits: CheckoutLimits): Promise<ExportResult> {
  const obj = store.read(commit);
  if (!obj || obj.type !== 'commit') throw new UserError(`commit ${commit} not found`);
  await checkCheckoutBounds(store, parseCommit(obj.data).tree, limits);
  const tmp = `${dest}.partial`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const result: ExportResult = { files: 0, submodules: [], outsideLinks: [] };
  try {
    await writeTree(store, parseCommit(obj.data).tree, tmp, '', result, tmp);
    fs.renameSync(tmp, dest);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return result;
}

async function writeTree(store: ObjectStore, treeOid: string, dir: string, prefix: string, result: ExportResult, root: string): Promise<void> {
  const tree = store.read(treeOid);
  if (!tree || tree.type !== 'tree') throw new UserError(`tree ${treeOid} of '${prefix || '/'}' is missing`);
  for (const e of parseTree(tree.data)) {
    checkName(e.name, prefix);
    const target = path.join(dir, e.name);
    if (e.mode === '160000') {
      result.submodules.push(prefix + e.name);
      fs.mkdirSync(target);
      continue;
    }
    if (e.mode.startsWith('4')) {
      fs.mkdirSync(target);
      await writeTree(store, e.oid, target, `${prefix}${e.name}/`, result, root);
      continue;
    }
    const blob = store.read(e.oid);
    if (!blob || blob.type !== 'blob') throw new UserError(`file '${prefix}${e.name}' is missing its content`);
    if (e.mode === '120000') {
      // A link out of the checkout (`/etc/passwd`, `../../x`) would hand whatever serves the release files of the server's.
      const link = blob.data.toString('utf8');
      const resolved = path.resolve(dir, link);
      if (resolved === root || resolved.startsWith(root + path.sep)) fs.symlinkSync(link, target);
      else result.outsideLinks.push(`${prefix}${printable(e.name)} -> ${printable(link)}`);
    }
    // 'wx': a duplicate name in a hostile tree must not write through an earlier symlink.
    else fs.writeFileSync(target, blob.data, { mode: e.mode === '100755' ? 0o755 : 0o644, flag: 'wx' });
    if (++result.files % 200 === 0) await tick();
  }
}
