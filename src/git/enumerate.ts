import type { ObjectStore } from './object-store.ts';
import { parseCommit, parseTag, scanTreeLinks, type CommitInfo, type ObjectType } from './objects.ts';
import { OidTable } from './oid-table.ts';

export interface Deepen {
  depth: number;
  /** deepen-relative: `depth` more commits below the client's current shallow boundary */
  relative: boolean;
}

export interface ShallowPlan {
  /** commits whose parents are not sent (the new boundary, and client cuts that stay) */
  stops: Set<string>;
  /** new boundary commits to announce with `shallow` */
  shallow: string[];
  /** client boundary commits whose parents are now sent */
  unshallow: string[];
}

export interface EnumerateInput {
  wants: string[];
  /** commits the client said it has */
  haves: string[];
  /** commits where the client's history is cut off */
  clientShallows: Set<string>;
  plan: ShallowPlan;
}

export class EnumerateError extends Error {}

/**
 * A tree walk two threads share: the commits' root trees in chunks, the first and the end of the
 * unclaimed chunks in one 32-bit word of shared memory, so a claim is one compare-and-swap. This
 * thread takes chunks from the front (the newest commits), the other from the back, until they
 * meet: whichever is slower (a busy or a cold thread) takes fewer.
 */
export class SharedChunks {
  readonly count: number;

  constructor(
    readonly trees: string[],
    readonly chunkSize: number,
    readonly word: Int32Array = new Int32Array(new SharedArrayBuffer(4)),
    fresh = true,
  ) {
    this.count = Math.ceil(trees.length / chunkSize);
    if (this.count > 0xffff) throw new Error('too many chunks for one word');
    if (fresh) Atomics.store(word, 0, this.count << 16);
  }

  /** The next chunk from the front (or the back), or -1 once all are claimed. */
  claim(fromBack: boolean): number {
    for (;;) {
      const v = Atomics.load(this.word, 0);
      const front = v & 0xffff;
      const end = v >>> 16;
      if (front >= end) return -1;
      const next = fromBack ? front | ((end - 1) << 16) : (front + 1) | (end << 16);
      if (Atomics.compareExchange(this.word, 0, v, next) === v) return fromBack ? end - 1 : front;
    }
  }

  chunk(c: number): string[] {
    return this.trees.slice(c * this.chunkSize, (c + 1) * this.chunkSize);
  }
}

/**
 * Walks chunks of trees on another thread (the indexing thread), from the back of `chunks`: the
 * trees and blobs below them not below `bounds`, as 20-byte ids end to end. Rejects when it
 * cannot (the caller then walks what that thread did not hand back).
 */
export type TreeWalker = (chunks: SharedChunks, bounds: string[]) => Promise<Uint8Array>;

export interface EnumerateOptions {
  walker?: TreeWalker;
  /** commits whose trees are sent before the walk is shared (default PARALLEL_ABOVE) */
  parallelAbove?: number;
  /** commits' trees per chunk of a shared walk (default CHUNK_COMMITS) */
  chunkCommits?: number;
}

/**
 * Fetches sending more commits' trees than this share the tree walk with the indexing thread:
 * the client waits for the whole enumeration before the first byte of the pack, and the walk is
 * most of a full clone's enumeration (1.3 of 1.5 s for the 20,000-commit history).
 */
export const PARALLEL_ABOVE = 2_000;
/** commits' trees per chunk of a shared walk */
const CHUNK_COMMITS = 256;

const tick = () => new Promise((r) => setImmediate(r));

function commitOf(store: ObjectStore, oid: string) {
  const o = store.read(oid);
  if (!o) throw new EnumerateError(`object ${oid} is missing from the repository`);
  if (o.type !== 'commit') throw new EnumerateError(`object ${oid} is a ${o.type}, expected a commit`);
  return parseCommit(o.data);
}

/** Peels wanted tags down to commits (or the trees and blobs they name). */
function peelWants(store: ObjectStore, wants: string[]): { tags: string[]; commits: string[]; others: string[] } {
  const out = { tags: [] as string[], commits: [] as string[], others: [] as string[] };
  for (const want of wants) {
    let oid = want;
    for (let type: ObjectType | undefined = store.read(oid)?.type; ; type = store.read(oid)?.type) {
      if (!type) throw new EnumerateError(`object ${oid} is missing from the repository`);
      if (type !== 'tag') {
        (type === 'commit' ? out.commits : out.others).push(oid);
        break;
      }
      out.tags.push(oid);
      oid = parseTag(store.read(oid)!.data).object;
    }
  }
  return out;
}

/**
 * Where a shallow fetch cuts history (gitprotocol-pack "Shallow"): `deepen N` counts N commits
 * from each want; `deepen-relative` counts N more from the client's current cut. Without a deepen,
 * the client's cuts stay where they are.
 */
export async function planShallow(store: ObjectStore, wants: string[], clientShallows: Set<string>, deepen?: Deepen): Promise<ShallowPlan> {
  if (!deepen) return { stops: new Set(clientShallows), shallow: [], unshallow: [] };
  const starts = deepen.relative ? [...clientShallows] : peelWants(store, wants).commits;
  const limit = deepen.relative ? deepen.depth + 1 : deepen.depth;
  const depthOf = new Map<string, number>();
  const stops = new Set<string>();
  let level = starts;
  for (let depth = 1; level.length; depth++) {
    const next: string[] = [];
    for (const oid of level) {
      if (depthOf.has(oid)) continue;
      depthOf.set(oid, depth);
      if (depthOf.size % 500 === 0) await tick();
      const parents = commitOf(store, oid).parents;
      if (depth >= limit) {
        if (parents.length) stops.add(oid);
      } else next.push(...parents);
    }
    level = next;
  }
  const shallow = [...stops].filter((c) => !clientShallows.has(c));
  const unshallow = [...clientShallows].filter((c) => depthOf.has(c) && !stops.has(c) && commitOf(store, c).parents.length > 0);
  return { stops, shallow, unshallow };
}

/**
 * Where `deepen-since` / `deepen-not` cut history (git's get_shallow_commits_by_rev_list, i.e.
 * `rev-list --max-age=<since> --not <notTips> <wants>`): the commits kept are those reachable from
 * the wants but neither from a `notTips` commit nor from a commit older than `since`; each kept
 * commit with a parent not kept is a new boundary. Walked newest first, painting what is cut off
 * (as git does), so it costs the part of history that is kept, not the whole of it.
 */
export async function planShallowByRevList(store: ObjectStore, wants: string[], clientShallows: Set<string>, since: number | null, notTips: string[]): Promise<ShallowPlan> {
  const state = new Map<string, 'keep' | 'cut'>();
  const queued = new Set<string>();
  const heap = new CommitHeap();
  let keepQueued = 0;
  const enqueue = (oid: string, as: 'keep' | 'cut') => {
    const was = state.get(oid);
    if (was === 'cut' || was === as) return;
    if (was === 'keep' && queued.has(oid)) keepQueued--;
    state.set(oid, as);
    if (as === 'keep') keepQueued++;
    if (!queued.has(oid)) {
      queued.add(oid);
      heap.push(oid, commitOf(store, oid).committerTime);
    }
  };
  for (const c of peelWants(store, notTips).commits) enqueue(c, 'cut');
  for (const c of peelWants(store, wants).commits) enqueue(c, 'keep');
  const kept: string[] = [];
  let steps = 0;
  while (keepQueued > 0) {
    const oid = heap.pop()!;
    queued.delete(oid);
    if (++steps % 500 === 0) await tick();
    const commit = commitOf(store, oid);
    if (state.get(oid) === 'keep') {
      keepQueued--;
      if (since === null || commit.committerTime >= since) {
        kept.push(oid);
        for (const p of commit.parents) enqueue(p, 'keep');
        continue;
      }
      state.set(oid, 'cut'); // older than `since`: it and its ancestors are cut off
    }
    for (const p of commit.parents) enqueue(p, 'cut');
  }
  const keep = new Set(kept.filter((c) => state.get(c) === 'keep'));
  if (keep.size === 0) throw new EnumerateError('no commits selected for shallow requests');
  const stops = new Set<string>();
  for (const c of keep) if (commitOf(store, c).parents.some((p) => !keep.has(p))) stops.add(c);
  const shallow = [...stops].filter((c) => !clientShallows.has(c));
  const unshallow = [...clientShallows].filter((c) => keep.has(c) && !stops.has(c) && commitOf(store, c).parents.length > 0);
  return { stops, shallow, unshallow };
}

/**
 * The objects a fetch must send: everything reachable from the wants that the client lacks.
 * Commits are walked newest first from the wants and the haves together (git's paint-down): an
 * ancestor of a have is on the client, and the walk stops once only such commits are left, so a
 * fetch costs what is new rather than the whole history. Trees and blobs are excluded through
 * the trees of boundary commits (the client has those whole), as `rev-list --objects` does.
 * Commits and tags come first.
 */
export async function enumerateObjects(store: ObjectStore, input: EnumerateInput, opts: EnumerateOptions = {}): Promise<string[]> {
  const stops = input.plan.stops;
  const unshallow = new Set(input.plan.unshallow);
  const { tags, commits, others } = peelWants(store, input.wants);
  const out: string[] = [...new Set(tags)];
  const sent = new Set<string>(out);
  const trees: string[] = [];
  // An unshallowed commit is on the client (so it bounds the trees) but its parents are not:
  // they are walked as if wanted.
  const boundary = new Set<string>(unshallow);

  /** 'have': on the client (an ancestor of a have); 'want': to send unless found to be a have. */
  const state = new Map<string, 'want' | 'have'>();
  /** the queued commits, parsed once when queued (for their time) and used when popped */
  const queued = new Map<string, CommitInfo>();
  const heap = new CommitHeap();
  let wantsQueued = 0;
  const enqueue = (oid: string, as: 'want' | 'have') => {
    const was = state.get(oid);
    if (was === 'have' || was === as) return;
    if (was === 'want' && queued.has(oid)) wantsQueued--; // found on the client while waiting
    state.set(oid, as);
    if (as === 'want') wantsQueued++;
    // A have goes (back) into the queue so that its ancestors are painted too.
    if (!queued.has(oid)) {
      const commit = commitOf(store, oid);
      queued.set(oid, commit);
      heap.push(oid, commit.committerTime);
    }
  };
  /** parents of the commits sent, to find the boundary once the walk is done */
  const parentsOf = new Map<string, string[]>();
  for (const h of input.haves) if (store.read(h)?.type === 'commit') enqueue(h, 'have');
  for (const c of [...commits, ...[...unshallow].flatMap((u) => commitOf(store, u).parents)]) {
    if (!boundary.has(c)) enqueue(c, 'want');
  }
  let steps = 0;
  while (wantsQueued > 0) {
    const oid = heap.pop()!;
    const commit = queued.get(oid)!;
    queued.delete(oid);
    if (++steps % 500 === 0) await tick();
    if (state.get(oid) === 'have') {
      if (!input.clientShallows.has(oid)) for (const p of commit.parents) enqueue(p, 'have');
      continue;
    }
    wantsQueued--;
    if (sent.has(oid)) continue;
    sent.add(oid);
    out.push(oid);
    trees.push(commit.tree);
    if (stops.has(oid)) continue;
    parentsOf.set(oid, commit.parents);
    for (const p of commit.parents) if (!boundary.has(p)) enqueue(p, 'want');
  }
  // Parents of sent commits that are on the client bound the trees.
  for (const parents of parentsOf.values()) for (const p of parents) if (state.get(p) === 'have' && !sent.has(p)) boundary.add(p);

  const seen = new OidTable();
  const walk = { trees: 0 };
  const bounds = [...boundary].map((b) => commitOf(store, b).tree);
  for (const b of bounds) await walkTree(store, b, seen, null, walk);
  const visit = (oid: string) => out.push(oid);
  if (opts.walker && trees.length > (opts.parallelAbove ?? PARALLEL_ABOVE)) {
    // Chunks grow past CHUNK_COMMITS only where a history would need more than a word can count.
    const chunks = new SharedChunks(trees, Math.max(opts.chunkCommits ?? CHUNK_COMMITS, Math.ceil(trees.length / 0xffff)));
    const elsewhere = opts.walker(chunks, bounds).catch(() => null); // the walker says why
    const mine = new Set<number>();
    for (let c = chunks.claim(false); c >= 0; c = chunks.claim(false)) {
      mine.add(c);
      for (const t of chunks.chunk(c)) await walkTree(store, t, seen, visit, walk);
    }
    // What both threads reach is sent once.
    const walked = await elsewhere;
    if (walked) {
      for (let at = 0; at < walked.length; at += 20) if (addNew(seen, walked, at) >= 0) visit(Buffer.from(walked.buffer, walked.byteOffset + at, 20).toString('hex'));
    } else {
      for (let c = 0; c < chunks.count; c++) if (!mine.has(c)) for (const t of chunks.chunk(c)) await walkTree(store, t, seen, visit, walk);
    }
  } else for (const t of trees) await walkTree(store, t, seen, visit, walk);
  for (const r of others) {
    if (store.read(r)?.type === 'tree') await walkTree(store, r, seen, visit, walk);
    else if (addNew(seen, Buffer.from(r, 'hex'), 0) >= 0) visit(r);
  }
  return out;
}

/** A TreeWalker's work on its thread: chunks from the back, as 20-byte ids end to end. */
export async function walkChunks(store: ObjectStore, chunks: SharedChunks, bounds: string[]): Promise<Uint8Array> {
  const seen = new OidTable();
  const walk = { trees: 0 };
  for (const b of bounds) await walkTree(store, b, seen, null, walk);
  const marked = seen.size;
  for (let c = chunks.claim(true); c >= 0; c = chunks.claim(true)) {
    for (const t of chunks.chunk(c)) await walkTree(store, t, seen, null, walk);
  }
  const ids = new Uint8Array((seen.size - marked) * 20);
  for (let k = marked; k < seen.size; k++) ids.set(seen.key(k), (k - marked) * 20);
  return ids;
}

/** Commits by committer time, newest first (a binary max-heap). */
class CommitHeap {
  private readonly oids: string[] = [];
  private readonly times: number[] = [];

  push(oid: string, time: number): void {
    let i = this.oids.length;
    this.oids.push(oid);
    this.times.push(time);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! >= time) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): string | undefined {
    const top = this.oids[0];
    const lastOid = this.oids.pop();
    const lastTime = this.times.pop();
    if (this.oids.length > 0 && lastOid !== undefined) {
      this.oids[0] = lastOid;
      this.times[0] = lastTime!;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.times.length && this.times[l]! > this.times[m]!) m = l;
        if (r < this.times.length && this.times[r]! > this.times[m]!) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private swap(a: number, b: number): void {
    [this.oids[a], this.oids[b]] = [this.oids[b]!, this.oids[a]!];
    [this.times[a], this.times[b]] = [this.times[b]!, this.times[a]!];
  }
}

/** Adds the oid at `src[at..at+20)` to `seen`: its index, or -1 if it was there already. */
function addNew(seen: OidTable, src: Uint8Array, at: number): number {
  const size = seen.size;
  const k = seen.insert(src, at);
  return seen.size > size ? k : -1;
}

/**
 * Visits a tree and everything below it that is not in `seen`, marking as it goes (`visit` null:
 * only marks). Entries are read in place: a hex string is made only for an object not seen yet.
 */
async function walkTree(store: ObjectStore, root: string, seen: OidTable, visit: ((oid: string) => void) | null, walk: { trees: number }): Promise<void> {
  const rootId = addNew(seen, Buffer.from(root, 'hex'), 0);
  if (rootId < 0) return;
  visit?.(root);
  const stack = [rootId];
  while (stack.length) {
    const id = stack.pop()!;
    if (++walk.trees % 200 === 0) await tick();
    const tree = store.readRaw(seen.key(id), 0);
    if (!tree || tree.type !== 'tree') throw new EnumerateError(`tree ${seen.hex(id)} is missing from the repository`);
    const data = tree.data;
    scanTreeLinks(data, (mode, at) => {
      if (mode === '160000') return; // submodule commits live elsewhere
      const child = addNew(seen, data, at);
      if (child < 0) return;
      visit?.(data.toString('hex', at, at + 20));
      if (mode === '40000') stack.push(child);
    });
  }
}
