import { readRef, RefTransaction, ZERO_OID } from './refs.ts';

/**
 * Moves one ref to `to` under its `.lock`, from whatever it points at now (or from `from` when
 * given: then a ref that moved meanwhile fails). `during` runs while the lock is held — another
 * push of the ref is refused meanwhile — and the ref moves only if it succeeds. Throws
 * RefUpdateError when the lock is taken or the old value is stale.
 */
export async function moveRef<T>(gitDir: string, ref: string, to: string, opts: { from?: string; during?: () => Promise<T> } = {}): Promise<T | undefined> {
  const tx = new RefTransaction(gitDir);
  try {
    tx.lock({ ref, old: opts.from ?? readRef(gitDir, ref) ?? ZERO_OID, new: to });
    const result = await opts.during?.();
    tx.commit();
    return result;
  } finally {
    if (!tx.finished) tx.abort();
  }
}
