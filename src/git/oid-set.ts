/**
 * A set of raw 20-byte oids (open addressing over typed arrays), looked up in place: a walk over
 * a whole history meets millions of tree entries, and a Set of hex strings made one string per
 * entry. Members are numbered in the order they were added.
 */
export class OidSet {
  /** 20 bytes per member, in the order added */
  private keys: Uint8Array;
  /** member number + 1 per slot; 0 is empty */
  private slots: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let n = 1024;
    while (n < expected * 2) n *= 2;
    this.slots = new Int32Array(n);
    this.mask = n - 1;
    this.keys = new Uint8Array(20 * Math.max(16, expected));
  }

  /** Adds the oid at bytes [at, at + 20) of `src`: its member number, or -1 if it was a member already. */
  add(src: Uint8Array, at: number): number {
    const slot = this.slotOf(src, at);
    if (this.slots[slot] !== 0) return -1;
    const id = this.size++;
    if ((id + 1) * 20 > this.keys.length) {
      const keys = new Uint8Array(this.keys.length * 2);
      keys.set(this.keys);
      this.keys = keys;
    }
    this.keys.set(src.subarray(at, at + 20), id * 20);
    this.slots[slot] = id + 1;
    if (this.size * 2 > this.slots.length) this.grow();
    return id;
  }

  has(src: Uint8Array, at: number): boolean {
    return this.slots[this.slotOf(src, at)] !== 0;
  }

  /** The bytes of member `id` are at [20 * id, 20 * id + 20) of this (replaced as the set grows). */
  get bytes(): Uint8Array {
    return this.keys;
  }

  /** The slot holding the oid, or the empty slot where it would go. */
  private slotOf(src: Uint8Array, at: number): number {
    // Oids are uniformly random: four of their bytes are as good a hash as any.
    let slot = (src[at + 1]! | (src[at + 2]! << 8) | (src[at + 3]! << 16) | (src[at + 4]! << 24)) & this.mask;
    const keys = this.keys;
    for (;;) {
      const s = this.slots[slot]!;
      if (s === 0) return slot;
      let k = (s - 1) * 20;
      let i = at;
      const end = at + 20;
      while (i < end && keys[k] === src[i]) {
        k++;
        i++;
      }
      if (i === end) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const n = this.slots.length * 2;
    this.slots = new Int32Array(n);
    this.mask = n - 1;
    const keys = this.keys;
    for (let id = 0; id < this.size; id++) {
      const at = id * 20;
      let slot = (keys[at + 1]! | (keys[at + 2]! << 8) | (keys[at + 3]! << 16) | (keys[at + 4]! << 24)) & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = id + 1;
    }
  }
}
