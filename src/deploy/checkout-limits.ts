import type { ObjectStore } from '../git/object-store.ts';
import { parseTree } from '../git/objects.ts';
import { formatBytes, limitMessage } from '../git/push-limits.ts';
import { UserError } from '../lib/errors.ts';

export interface CheckoutLimits {
  /** files (and symlinks) one checkout may write (limits.max_checkout_files) */
  maxCheckoutFiles: number;
  /** bytes one checkout may write (limits.max_checkout_size) */
  maxCheckoutBytes: number;
}

const tick = () => new Promise((r) => setImmediate(r));

/**
 * Measures what checking out `tree` would write, from tree entries and object headers only (no
 * blob is inflated), and refuses before anything is written when it exceeds a bound: a small
 * pack whose tree names one huge blob many times (a zip bomb) fails its deploy in moments.
 */
export async function checkCheckoutBounds(store: ObjectStore, tree: string, limits: CheckoutLimits): Promise<void> {
  let files = 0;
  let bytes = 0;
  const sizes = new Map<string, number>();
  const trees = [tree];
  let steps = 0;
  while (trees.length > 0) {
    const oid = trees.pop()!;
    const obj = store.read(oid);
    if (!obj || obj.type !== 'tree') continue; // exportCommit names what is missing
    for (const e of parseTree(obj.data)) {
      if (e.mode === '160000') continue;
      if (e.mode.startsWith('4')) {
        trees.push(e.oid);
        continue;
      }
      if (++files > limits.maxCheckoutFiles) {
        throw new UserError(limitMessage(`the checkout would write ${files} files or more`, String(limits.maxCheckoutFiles), 'max_checkout_files'));
      }
      let size = sizes.get(e.oid);
      if (size === undefined) sizes.set(e.oid, (size = store.size(e.oid) ?? 0));
      bytes += size;
      if (bytes > limits.maxCheckoutBytes) {
        throw new UserError(limitMessage(`the checkout would write ${formatBytes(bytes)} or more`, formatBytes(limits.maxCheckoutBytes), 'max_checkout_size'));
      }
      if (++steps % 500 === 0) await tick();
    }
  }
}
