import type { ObjectStore } from './object-store.ts';
import { fsckObject } from './fsck.ts';
import { GitFormatError, parseCommit, parseTag, parseTree, type ObjectType } from './objects.ts';

/**
 * Walks the objects a new ref tip brings and says what is wrong with them (a missing object, or
 * one `git fsck --strict` would refuse), or null when the tip is complete and sound. Objects
 * already in the repo (`known`) passed this check when they came, so only pushed objects are walked.
 */
export async function checkPushedObjects(tip: string, store: ObjectStore, known: ObjectStore): Promise<string | null> {
  const seen = new Set<string>();
  // What the object must be, where its referrer says so (a tree entry of mode 40000 names a tree).
  const expected = new Map<string, ObjectType>();
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
    const want = expected.get(oid);
    if (want && obj.type !== want) return `${oid.slice(0, 12)} is a ${obj.type} where a ${want} is referred to`;
    const problem = fsckObject(obj.type, obj.data);
    if (problem) return `${obj.type} ${oid.slice(0, 12)} is malformed: ${problem}`;
    try {
      switch (obj.type) {
        case 'commit': {
          const c = parseCommit(obj.data);
          expected.set(c.tree, 'tree');
          for (const p of c.parents) expected.set(p, 'commit');
          stack.push(c.tree, ...c.parents);
          break;
        }
        case 'tree':
          for (const e of parseTree(obj.data)) {
            if (e.mode === '160000') continue; // submodule commit: lives in another repo
            if (e.mode === '40000') {
              expected.set(e.oid, 'tree');
              stack.push(e.oid);
            } else if (!seen.has(e.oid)) {
              seen.add(e.oid);
              if (!known.has(e.oid) && !store.has(e.oid)) return missing(e.oid);
            }
          }
          break;
        case 'tag': {
          const t = parseTag(obj.data);
          expected.set(t.object, t.type);
          stack.push(t.object);
          break;
        }
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
