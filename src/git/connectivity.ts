import type { ObjectStore } from './object-store.ts';
import { messageRefusal, treeEntriesRefusal, type PushLimits } from './push-limits.ts';
import { fsckObject, fsckSpecialBlob, type SpecialBlob } from './fsck.ts';
import { GitFormatError, parseCommit, parseTag, treeLinks, type ObjectType } from './objects.ts';

const YIELD_EVERY = 500;

/**
 * Checks the new tips of one push: each is walked down to objects the repo already had (those
 * passed this check when they came), and every pushed commit, tree and tag on the way is checked
 * as native `git fsck` does. One visited set serves all refs of the push, so a hundred tags on one
 * history cost one walk. Objects reached from tips that passed are `kept`: only they may enter
 * the repo.
 */
export class PushCheck {
  /** pushed objects reachable from tips that passed */
  readonly kept = new Set<string>();
  /** git fsck warnings (message id → objects) among the kept objects */
  readonly warnings = new Map<string, number>();
  objectsRead = 0;
  /** verdicts on blobs trees name `.gitmodules` or `.gitattributes`, by kind and oid */
  private readonly specialChecked = new Map<string, string | null>();

  /**
   * @param store reads the pushed objects and the repo's
   * @param had whether the repo had an object before this push
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly had: (oid: string) => boolean,
    private readonly limits?: PushLimits,
  ) {}

  /** What is wrong with the objects `tip` brings (a missing or malformed one), or null when it is complete and sound. */
  async check(tip: string): Promise<string | null> {
    const seen = new Set<string>();
    const warnings = new Map<string, number>();
    const special: SpecialBlob[] = [];
    const problem = (await this.walk(tip, seen, warnings, special)) ?? this.checkSpecialBlobs(special, warnings);
    if (problem) return problem;
    let n = 0;
    for (const oid of seen) {
      this.kept.add(oid);
      if (++n % 20_000 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const [id, n] of warnings) this.warnings.set(id, (this.warnings.get(id) ?? 0) + n);
    return null;
  }

  private skip(oid: string, seen: Set<string>): boolean {
    return seen.has(oid) || this.kept.has(oid) || this.had(oid);
  }

  /**
   * git checks the blobs trees name `.gitmodules` or `.gitattributes` once all objects are in
   * (fsck_finish), including blobs the repo had under another name. Returns the first problem.
   */
  checkSpecialBlobs(special: SpecialBlob[], warnings: Map<string, number>): string | null {
    for (const { oid, kind } of special) {
      const key = `${kind} ${oid}`;
      let verdict = this.specialChecked.get(key);
      if (verdict === undefined) {
        const report = fsckSpecialBlob(kind, this.store.read(oid));
        for (const id of report.warnings) warnings.set(id, (warnings.get(id) ?? 0) + 1);
        verdict = report.error ? `blob ${oid.slice(0, 12)} (.${kind}) is malformed: ${report.error}` : null;
        this.specialChecked.set(key, verdict);
      }
      if (verdict) return verdict;
    }
    return null;
  }

  private async walk(tip: string, seen: Set<string>, warnings: Map<string, number>, special: SpecialBlob[]): Promise<string | null> {
    // What the object must be, where its referrer says so (a tree entry of a tree mode names a tree).
    const expected = new Map<string, ObjectType>();
    const stack = [tip];
    const missing = (oid: string) => `missing necessary objects (${oid.slice(0, 12)})`;
    let steps = 0;
    while (stack.length) {
      const oid = stack.pop()!;
      if (this.skip(oid, seen)) continue;
      seen.add(oid);
      if (++steps % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
      const obj = this.store.read(oid);
      this.objectsRead++;
      if (!obj) return missing(oid);
      const want = expected.get(oid);
      expected.delete(oid);
      if (want && obj.type !== want) return `${oid.slice(0, 12)} is a ${obj.type} where a ${want} is referred to`;
      // Bounds first: parsing a huge message or tree is the cost they keep out.
      const bound = !this.limits ? null
        : obj.type === 'tree' ? treeEntriesRefusal(oid, obj.data, this.limits)
        : obj.type === 'commit' || obj.type === 'tag' ? messageRefusal(obj.type, oid, obj.data, this.limits)
        : null;
      if (bound) return bound;
      const report = fsckObject(obj.type, obj.data);
      if (report.error) return `${obj.type} ${oid.slice(0, 12)} is malformed: ${report.error}`;
      for (const id of report.warnings) warnings.set(id, (warnings.get(id) ?? 0) + 1);
      special.push(...report.special);
      try {
        switch (obj.type) {
          case 'commit': {
            const c = parseCommit(obj.data);
            for (const [o, t] of [[c.tree, 'tree'], ...c.parents.map((p) => [p, 'commit'])] as Array<[string, ObjectType]>) {
              if (this.skip(o, seen)) continue;
              expected.set(o, t);
              stack.push(o);
            }
            break;
          }
          case 'tree':
            for (const e of treeLinks(obj.data)) {
              if (e.mode === '160000' || this.skip(e.oid, seen)) continue; // a submodule commit lives in another repo
              if (e.mode === '40000') {
                expected.set(e.oid, 'tree');
                stack.push(e.oid);
              } else {
                // Blobs are opaque: present is enough.
                seen.add(e.oid);
                if (!this.store.has(e.oid)) return missing(e.oid);
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
}
