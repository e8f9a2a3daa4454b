/** A least-recently-used cache bounded by the total byte size of its values. */
export class ByteLru<K, V> {
  private readonly map = new Map<K, V>();
  private bytes = 0;

  constructor(
    private readonly budget: number,
    private readonly sizeOf: (value: V) => number,
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
    if (size > this.budget / 4) return; // one huge object would flush everything else
    const old = this.map.get(key);
    if (old !== undefined) {
      this.bytes -= this.sizeOf(old);
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.bytes += size;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.budget) break;
      this.map.delete(k);
      this.bytes -= this.sizeOf(v);
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
