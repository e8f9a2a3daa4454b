import type { ObjectStore } from './object-store.ts';
import { parseCommit, parseTag, parseTree } from './objects.ts';

/**
 * Walks the objects a new ref tip brings and returns the first one that is missing, or null when
 * the tip is fully connected. Objects already in the repo (`known`) are connected by invariant:
 * only pushes that passed this check ever reach it. So only the pushed objects are walked.
 */
export async function findMissingObject(tip: string, store: ObjectStore, known: ObjectStore): Promise<string | null> {
  const seen = new Set<string>();
  const stack = [tip];
  let steps = 0;
  while (stack.length) {
    const oid = stack.pop()!;
    if (seen.has(oid)) continue;
    seen.add(oid);
    if (known.has(oid)) continue;
    if (++steps % 500 === 0) await new Promise((r) => setImmediate(r));
    const obj = store.read(oid);
    if (!obj) return oid;
    switch (obj.type) {
      case 'commit': {
        const c = parseCommit(obj.data);
        stack.push(c.tree, ...c.parents);
        break;
      }
      case 'tree':
        for (const e of parseTree(obj.data)) {
          if (e.mode === '160000') continue; // submodule commit: lives in another repo
          if (e.mode === '40000') stack.push(e.oid);
          else if (!seen.has(e.oid)) {
            seen.add(e.oid);
            if (!known.has(e.oid) && !store.has(e.oid)) return e.oid;
          }
        }
        break;
      case 'tag':
        stack.push(parseTag(obj.data).object);
        break;
      case 'blob':
        break;
    }
  }
  return null;
}
