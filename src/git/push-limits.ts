/**
 * The bounds a push must stay within, and the one-line refusals that name the setting which
 * raises each. Pure checks: callers decide when (always before the work the bound protects).
 */
import type { Limits } from '../config/types.ts';

/** What one push may make the gateway do; every field has a default in slipway.yml's `limits` (see Limits). */
export type PushLimits = Pick<Limits, 'maxObjectBytes' | 'maxDeltaDepth' | 'maxPushInflatedBytes' | 'maxRefsPerPush' | 'maxRefsPerRepo' | 'maxMessageBytes' | 'maxTreeEntries'>;

/** git's own deepest chain: pack-objects never writes one deeper (OE_DEPTH_BITS = 12). */
export const GIT_MAX_DELTA_DEPTH = 4095;
/** The object store reads chains up to this long; a deeper one would make the repo unreadable. */
export const READABLE_DELTA_DEPTH = 10_000;

/** A bound was crossed; the message says which, and how to raise it. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}

/** `what` exceeds `limit`, the value of setting `key`: the refusal line the pusher reads. */
export function limitMessage(what: string, limit: string, key: string): string {
  return `${what}, more than limits.${key} allows (${limit}; raise it in slipway.yml)`;
}

export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${shown} ${units[i]}`;
}

/** Running totals of one pack, checked as its entries are read and before any is inflated. */
export class PackBudget {
  inflated = 0;

  constructor(readonly limits: PushLimits) {}

  /** An object (or a delta's result) of `size` bytes, as its header declares. */
  object(size: number, where: string): void {
    if (size > this.limits.maxObjectBytes) {
      throw new LimitError(limitMessage(`${where} is ${formatBytes(size)} inflated`, formatBytes(this.limits.maxObjectBytes), 'max_object_size'));
    }
    this.inflated += size;
    if (this.inflated > this.limits.maxPushInflatedBytes) {
      throw new LimitError(limitMessage(`the push inflates to ${formatBytes(this.inflated)} or more`, formatBytes(this.limits.maxPushInflatedBytes), 'max_push_inflated'));
    }
  }

  /** A delta's instructions, inflated: never larger than the largest object may be. */
  delta(size: number, where: string): void {
    if (size > this.limits.maxObjectBytes) {
      throw new LimitError(limitMessage(`${where} has ${formatBytes(size)} of delta data`, formatBytes(this.limits.maxObjectBytes), 'max_object_size'));
    }
  }

  depth(depth: number, where: string): void {
    if (depth > this.limits.maxDeltaDepth) {
      throw new LimitError(limitMessage(`${where} ends a delta chain ${depth} deep`, String(this.limits.maxDeltaDepth), 'max_delta_depth'));
    }
  }
}

/** The result size a delta declares (its second varint), from its first bytes; null if they are cut short. */
export function deltaResultSize(delta: Buffer): number | null {
  let pos = 0;
  for (let field = 0; field < 2; field++) {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= delta.length || scale > 2 ** 49) return null;
      const c = delta[pos++]!;
      value += (c & 0x7f) * scale;
      scale *= 128;
      if (!(c & 0x80)) break;
    }
    if (field === 1) return value;
  }
  return null;
}

/** Bytes of a commit's or tag's message: what follows the blank line that ends its header. */
export function messageBytes(data: Buffer): number {
  const blank = data.indexOf('\n\n');
  return blank < 0 ? 0 : data.length - blank - 2;
}

/** Refusal of a commit or tag whose message is too long, or null. */
export function messageRefusal(type: 'commit' | 'tag', oid: string, data: Buffer, limits: PushLimits): string | null {
  const message = messageBytes(data);
  if (message <= limits.maxMessageBytes) return null;
  return limitMessage(`${type} ${oid.slice(0, 12)} has a ${formatBytes(message)} message`, formatBytes(limits.maxMessageBytes), 'max_message_size');
}

/** Refusal of a tree with too many entries, or null; counts without parsing names (stops early). */
export function treeEntriesRefusal(oid: string, data: Buffer, limits: PushLimits): string | null {
  // Each entry is `mode SP name NUL oid20`: skipping 21 bytes after each NUL finds the next.
  let entries = 0;
  for (let pos = data.indexOf(0); pos >= 0 && pos < data.length; pos = data.indexOf(0, pos + 21)) {
    if (++entries > limits.maxTreeEntries) {
      return limitMessage(`tree ${oid.slice(0, 12)} has ${limits.maxTreeEntries + 1} entries or more`, String(limits.maxTreeEntries), 'max_tree_entries');
    }
  }
  return null;
}

/** Refusal of a push with too many ref updates, or null. */
export function refsPerPushRefusal(count: number, limits: PushLimits): string | null {
  if (count <= limits.maxRefsPerPush) return null;
  return limitMessage(`the push updates ${count} refs or more`, String(limits.maxRefsPerPush), 'max_refs_per_push');
}

export function refsPerRepoRefusal(limits: PushLimits): string {
  return limitMessage(`the repo would hold ${limits.maxRefsPerRepo + 1} refs or more`, String(limits.maxRefsPerRepo), 'max_refs_per_repo');
}
