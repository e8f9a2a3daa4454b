import type { ObjectStore } from './object-store.ts';
import { GitFormatError, parseCommit, parseTag, parseTree } from './objects.ts';

/**
 * A name git itself refuses in a tree (fsck's hasDot, hasDotdot, hasDotgit, fullPathname,
 * emptyName): such a tree could write outside a checkout, or over `.git`.
 */
function badEntryName(name: string): boolean {
  return name === '' || name === '.' || name === '..' || name.toLowerCase() === '.git' || name.includes('/');
}

/**
 * Walks the objects a new ref tip brings and says what is wrong with them (a missing object, a
 * malformed one, a tree entry git refuses), or null when the tip is complete and sound. Objects
 * already in the repo (`known`) passed this check when they came, so only pushed objects are walked.
 */
export async function checkPushedObjects(tip: string, store: ObjectStore, known: ObjectStore): Promise<string | null> {
  const seen = new Set<string>();
  const stack = [tip];
  let steps = 0;
  const missing = (oid: string) => `missing necessary objects (${oid.slice(0, 12)})`;
  while (stack.length) {
    const oid = stack.pop()!;
    if (seen.has(oid)) continue;
    seen.add(oid);
    if (known.has(oid)) continue;
    if (++steps % 500 === 0) await new Promise((r) => setImmediate(r));
    const obj = store.read(oid);
    if (!obj) return missing(oid);
    try {
      switch (obj.type) {
        case 'commit': {
          const c = parseCommit(obj.data);
          stack.push(c.tree, ...c.parents);
          break;
        }
        case 'tree':
          for (const e of parseTree(obj.data)) {
            if (badEntryName(e.name)) return `tree ${oid.slice(0, 12)} has an invalid entry '${e.name.replace(/[^\x20-\x7e]/g, '?')}'`;
            if (e.mode === '160000') continue; // submodule commit: lives in another repo
            if (e.mode === '40000') stack.push(e.oid);
            else if (!seen.has(e.oid)) {
              seen.add(e.oid);
              if (!known.has(e.oid) && !store.has(e.oid)) return missing(e.oid);
            }
          }
          break;
        case 'tag':
          stack.push(parseTag(obj.data).object);
          break;
        case 'blob':
          break;
      }
    } catch (err) {
      if (err instanceof GitFormatError) return `${obj.type} ${oid.slice(0, 12)} is malformed: ${err.message}`;
      throw err;
    }
  }
  return null;
}
