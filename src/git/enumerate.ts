import type { ObjectStore } from './object-store.ts';
import { parseCommit, parseTag, parseTree, type ObjectType } from './objects.ts';

export interface EnumerateInput {
  wants: string[];
  /** commits the client said it has */
  haves: string[];
  /** deepen N: only N commits deep from each want */
  depth?: number;
  /** commits where the client's history is already cut off */
  clientShallows: Set<string>;
}

export interface EnumerateResult {
  /** objects to send: commits and tags first, then trees and blobs */
  oids: string[];
  /** new shallow boundary commits (for a deepen request) */
  shallow: string[];
  /** client shallow commits whose parents are now sent */
  unshallow: string[];
}

const tick = () => new Promise((r) => setImmediate(r));

export class EnumerateError extends Error {}

/**
 * The objects a fetch must send: everything reachable from the wants that is not reachable from
 * what the client has. Trees and blobs are excluded through the trees of the boundary commits
 * (the client has those whole), as git's own `rev-list --objects` does.
 */
export async function enumerateObjects(store: ObjectStore, input: EnumerateInput): Promise<EnumerateResult> {
  const readAs = (oid: string, want?: ObjectType) => {
    const o = store.read(oid);
    if (!o) throw new EnumerateError(`object ${oid} is missing from the repository`);
    if (want && o.type !== want) throw new EnumerateError(`object ${oid} is a ${o.type}, expected a ${want}`);
    return o;
  };

  const uninteresting = await ancestors(input.haves.filter((h) => store.read(h)?.type === 'commit'), (oid) => parseCommit(readAs(oid, 'commit').data).parents);

  const out: string[] = [];
  const sent = new Set<string>();
  const add = (oid: string) => {
    if (!sent.has(oid)) {
      sent.add(oid);
      out.push(oid);
    }
  };

  // Peel wanted tags; trees and blobs can be wanted directly too.
  const commitTips: string[] = [];
  const looseRoots: string[] = [];
  for (const want of input.wants) {
    let oid = want;
    for (;;) {
      const o = readAs(oid);
      if (o.type === 'tag') {
        add(oid);
        oid = parseTag(o.data).object;
        continue;
      }
      if (o.type === 'commit') commitTips.push(oid);
      else looseRoots.push(oid);
      break;
    }
  }

  // Commits, breadth first with depth so `--depth` cuts at the right place.
  const shallow: string[] = [];
  const unshallow: string[] = [];
  const trees: string[] = [];
  const boundary = new Set<string>();
  const depthOf = new Map<string, number>();
  let queue = commitTips.filter((c) => !uninteresting.has(c));
  for (const c of queue) depthOf.set(c, 1);
  for (const h of input.haves) if (uninteresting.has(h)) boundary.add(h);
  let n = 0;
  while (queue.length) {
    const next: string[] = [];
    for (const oid of queue) {
      if (sent.has(oid)) continue;
      add(oid);
      if (++n % 500 === 0) await tick();
      const commit = parseCommit(readAs(oid, 'commit').data);
      trees.push(commit.tree);
      const depth = depthOf.get(oid)!;
      if (input.depth !== undefined && depth >= input.depth) {
        if (commit.parents.length) shallow.push(oid);
        continue;
      }
      if (input.clientShallows.has(oid) && input.depth !== undefined) unshallow.push(oid);
      else if (input.clientShallows.has(oid)) continue; // the client has nothing below it and did not ask to deepen
      for (const p of commit.parents) {
        if (uninteresting.has(p)) {
          boundary.add(p);
          continue;
        }
        if (!depthOf.has(p) || depthOf.get(p)! > depth + 1) depthOf.set(p, depth + 1);
        next.push(p);
      }
    }
    queue = next;
  }

  // Everything under the boundary commits' trees is on the client already.
  const excluded = new Set<string>();
  for (const b of boundary) {
    await walkTree(store, parseCommit(readAs(b, 'commit').data).tree, excluded, () => {});
  }
  const treeOut: string[] = [];
  const visit = (oid: string) => {
    if (!excluded.has(oid) && !sent.has(oid)) {
      sent.add(oid);
      treeOut.push(oid);
    }
  };
  const seen = new Set<string>(excluded);
  for (const t of trees) await walkTree(store, t, seen, visit);
  for (const r of looseRoots) {
    const o = readAs(r);
    if (o.type === 'tree') await walkTree(store, r, seen, visit);
    else visit(r);
  }
  return { oids: out.concat(treeOut), shallow, unshallow };
}

/** All ancestors of `tips` (inclusive). */
async function ancestors(tips: string[], parentsOf: (oid: string) => string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const stack = [...tips];
  while (stack.length) {
    const oid = stack.pop()!;
    if (seen.has(oid)) continue;
    seen.add(oid);
    if (seen.size % 500 === 0) await tick();
    stack.push(...parentsOf(oid));
  }
  return seen;
}

/** Visits a tree and everything below it that is not in `seen`, marking as it goes. */
async function walkTree(store: ObjectStore, root: string, seen: Set<string>, visit: (oid: string) => void): Promise<void> {
  const stack = [root];
  let n = 0;
  while (stack.length) {
    const oid = stack.pop()!;
    if (seen.has(oid)) continue;
    seen.add(oid);
    visit(oid);
    if (++n % 200 === 0) await tick();
    const tree = store.read(oid);
    if (!tree || tree.type !== 'tree') throw new EnumerateError(`tree ${oid} is missing from the repository`);
    for (const e of parseTree(tree.data)) {
      if (e.mode === '160000' || seen.has(e.oid)) continue;
      if (e.mode === '40000') stack.push(e.oid);
      else {
        seen.add(e.oid);
        visit(e.oid);
      }
    }
  }
}
