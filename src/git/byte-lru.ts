/** A least-recently-used cache bounded by the total byte size of its values. */
export class ByteLru<K, V> {
  private readonly map = new Map<K, V>();
  private bytes = 0;

  /** @param maxItem values larger than this are not cached (default: a quarter of the budget) */
  constructor(
    private readonly budget: number,
    private readonly sizeOf: (value: V) => number,
    private readonly maxItem = budget / 4,
  ) {}

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      // Map iteration order is insertion order: re-inserting marks the entry most recent.
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    const size = this.sizeOf(value);
    if (size > this.maxItem) return; // one huge object would flush everything else
    const old = this.map.get(key);
    if (old !== undefined) {
      this.bytes -= this.sizeOf(old);
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.bytes += size;
    if (this.bytes <= this.budget) return;
    // Evict down to 3/4 of the budget in one pass: a Map's deleted slots stay in front of its live
    // ones until it compacts, so evicting one entry per set would rescan them every time.
    for (const [k, v] of this.map) {
      if (this.bytes <= (this.budget * 3) / 4) break;
      this.map.delete(k);
      this.bytes -= this.sizeOf(v);
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
