/**
 * Per-entry facts of a pack being indexed (pack-indexer.ts), in pack order (appended thin-pack
 * bases last), in typed arrays. Entries of the received pack lie end to end, so where one ends
 * is where the next starts (or the trailer): only their headers' lengths are kept.
 */
export class EntryTable {
  count = 0;
  offset: Float64Array;
  /** bytes of the entry's header (type, size, and a delta's base) before its zlib data */
  headerLength: Uint8Array;
  size: Float64Array;
  /** resolved object type code 1-4; 0 while unresolved */
  objType: Uint8Array;
  crc: Uint32Array;
  /** entry index of an OFS_DELTA's base; -1 for other entries */
  base: Int32Array;
  /** index of the entry's oid in the pack's OidTable, once resolved */
  key: Int32Array;
  /** REF_DELTA base oids, by entry index */
  refBase = new Map<number, string>();

  constructor(capacity: number) {
    this.offset = new Float64Array(capacity);
    this.headerLength = new Uint8Array(capacity);
    this.size = new Float64Array(capacity);
    this.objType = new Uint8Array(capacity);
    this.crc = new Uint32Array(capacity);
    this.base = new Int32Array(capacity).fill(-1);
    this.key = new Int32Array(capacity).fill(-1);
  }

  dataStart(i: number): number {
    return this.offset[i]! + this.headerLength[i]!;
  }

  add(): number {
    if (this.count === this.crc.length) this.grow();
    return this.count++;
  }

  private grow(): void {
    const cap = Math.max(16, this.crc.length * 2);
    const widen = <T extends Float64Array | Uint8Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a as never);
      return b;
    };
    this.offset = widen(this.offset, (n) => new Float64Array(n));
    this.headerLength = widen(this.headerLength, (n) => new Uint8Array(n));
    this.size = widen(this.size, (n) => new Float64Array(n));
    this.objType = widen(this.objType, (n) => new Uint8Array(n));
    this.crc = widen(this.crc, (n) => new Uint32Array(n));
    this.base = widen(this.base, (n) => new Int32Array(n).fill(-1));
    this.key = widen(this.key, (n) => new Int32Array(n).fill(-1));
  }

  /** Entry index starting exactly at `offset` (entries are in offset order), or -1. */
  atOffset(offset: number, below: number): number {
    let lo = 0;
    let hi = below;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offset[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < below && this.offset[lo] === offset ? lo : -1;
  }
}
