/**
 * A cache bounded by the total byte size of its values that evicts about the least recently used
 * (CLOCK, "second chance"): a hit only marks its entry, so a get costs one Map lookup; eviction
 * goes oldest first and moves a marked entry to the back instead of dropping it.
 */
export class ByteLru<K, V> {
  private readonly map = new Map<K, { value: V; used: boolean }>();
  private bytes = 0;

  /** @param maxItem values larger than this are not cached (default: a quarter of the budget) */
  constructor(
    private readonly budget: number,
    private readonly sizeOf: (value: V) => number,
    private readonly maxItem = budget / 4,
  ) {}

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    e.used = true;
    return e.value;
  }

  set(key: K, value: V): void {
    const size = this.sizeOf(value);
    if (size > this.maxItem) return; // one huge object would flush everything else
    const old = this.map.get(key);
    if (old !== undefined) {
      this.bytes -= this.sizeOf(old.value);
      this.map.delete(key);
    }
    this.map.set(key, { value, used: false });
    this.bytes += size;
    if (this.bytes <= this.budget) return;
    // Evict down to 3/4 of the budget in one pass: a Map's deleted slots stay in front of its live
    // ones until it compacts, so evicting one entry per set would rescan them every time. A marked
    // entry re-inserted here comes round again unmarked later in the same pass, so the pass ends.
    for (const [k, e] of this.map) {
      if (this.bytes <= (this.budget * 3) / 4) break;
      this.map.delete(k);
      if (e.used) {
        e.used = false;
        this.map.set(k, e);
      } else this.bytes -= this.sizeOf(e.value);
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
