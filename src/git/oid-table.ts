/**
 * A set of 20-byte object ids kept as bytes, with a byte of flags and a number per id: a push of
 * hundreds of thousands of objects holds a few MiB here, where hex strings in a Map hold tens.
 * Ids are SHA-1 output, so their first bytes are a fair hash (finding many ids that share them
 * costs 2^32 hashes each).
 */
export class OidTable {
  size = 0;
  private keys = Buffer.allocUnsafe(20 * 1024);
  flags = new Uint8Array(1024);
  values = new Int32Array(1024);
  /** 1 + key index, 0 for an empty slot; open addressing, linear probing, at most half full */
  private slots = new Int32Array(2048);
  private mask = 2047;
  private readonly scratch = Buffer.allocUnsafe(20);
  /** ids the caller expects (a pack's object count): keys grow towards it, then by half */
  private expected = 0;

  /** Says how many ids are likely (the table grows towards it, never beyond twice what it holds). */
  expect(ids: number): void {
    this.expected = ids;
  }

  /** Index of the id at `src[at..at+20)`, or -1. */
  find(src: Uint8Array, at: number): number {
    for (let s = this.slotOf(src, at); ; s = (s + 1) & this.mask) {
      const k = this.slots[s]! - 1;
      if (k < 0) return -1;
      if (this.equals(k, src, at)) return k;
    }
  }

  findHex(hex: string): number {
    this.scratch.write(hex, 0, 20, 'hex');
    return this.find(this.scratch, 0);
  }

  /** Index of the id at `src[at..at+20)`, added (with flags and value 0) when absent. */
  insert(src: Uint8Array, at: number): number {
    let s = this.slotOf(src, at);
    for (; ; s = (s + 1) & this.mask) {
      const k = this.slots[s]! - 1;
      if (k < 0) break;
      if (this.equals(k, src, at)) return k;
    }
    const k = this.size++;
    if (k * 20 === this.keys.length) this.resizeKeys(this.nextCapacity());
    this.keys.set(src.subarray(at, at + 20), k * 20);
    this.flags[k] = 0;
    this.values[k] = 0;
    this.slots[s] = k + 1;
    if (this.size * 2 > this.mask) this.rehash(this.slots.length * 2);
    return k;
  }

  /** The id at index `k`, as a view valid until the next insert. */
  key(k: number): Buffer {
    return this.keys.subarray(k * 20, k * 20 + 20);
  }

  hex(k: number): string {
    return this.keys.toString('hex', k * 20, k * 20 + 20);
  }

  /** Orders indices `a` and `b` by their ids, bytewise (the order of a pack index). */
  compare(a: number, b: number): number {
    const ka = this.keys;
    for (let i = 0, pa = a * 20, pb = b * 20; i < 20; i += 4) {
      const x = ka.readUInt32BE(pa + i);
      const y = ka.readUInt32BE(pb + i);
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }

  private slotOf(src: Uint8Array, at: number): number {
    return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) & this.mask;
  }

  private equals(k: number, src: Uint8Array, at: number): boolean {
    const keys = this.keys;
    const p = k * 20;
    for (let i = 0; i < 20; i++) if (keys[p + i] !== src[at + i]) return false;
    return true;
  }

  /** Room for `ids` at once (a pack that has arrived): one allocation and one rehash instead of a doubling series. */
  reserve(ids: number): void {
    if (ids * 20 <= this.keys.length) return;
    this.resizeKeys(ids);
    let slots = this.slots.length;
    while (ids * 2 > slots - 1) slots *= 2;
    if (slots > this.slots.length) this.rehash(slots);
  }

  private nextCapacity(): number {
    const cap = this.keys.length / 20;
    return cap < this.expected ? Math.min(cap * 2, this.expected) : Math.ceil(cap * 1.5);
  }

  private resizeKeys(next: number): void {
    const keys = Buffer.allocUnsafe(next * 20);
    this.keys.copy(keys);
    this.keys = keys;
    const flags = new Uint8Array(next);
    flags.set(this.flags);
    this.flags = flags;
    const values = new Int32Array(next);
    values.set(this.values);
    this.values = values;
  }

  private rehash(slots: number): void {
    this.slots = new Int32Array(slots);
    this.mask = this.slots.length - 1;
    for (let k = 0; k < this.size; k++) {
      let s = this.slotOf(this.keys, k * 20);
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = k + 1;
    }
  }
}
