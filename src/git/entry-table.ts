/**
 * Per-entry facts of a pack being indexed (pack-indexer.ts), in pack order (appended thin-pack
 * bases last), in typed arrays: 23 bytes an entry. Entries of the received pack lie end to end,
 * so where one ends is where the next starts (or the trailer): only their headers' lengths are
 * kept.
 */
export class EntryTable {
  count = 0;
  /** low 32 bits of the entry's offset; `offsetHigh` holds the next 8 (packs up to 1 TiB) */
  private offsetLow: Uint32Array;
  private offsetHigh: Uint8Array;
  /** bytes of the entry's header (type, size, and a delta's base) before its zlib data */
  headerLength: Uint8Array;
  /** the entry's inflated size; sizes of 4 GiB and more are in `bigSizes` */
  private sizeLow: Uint32Array;
  private readonly bigSizes = new Map<number, number>();
  /** resolved object type code 1-4; 0 while unresolved */
  objType: Uint8Array;
  crc: Uint32Array;
  /** entry index of an OFS_DELTA's base; -1 for other entries (released once deltas are sorted by base) */
  base: Int32Array;
  /** index of the entry's oid in the pack's OidTable, once resolved */
  key: Int32Array;
  /** REF_DELTA base oids, by entry index */
  refBase = new Map<number, string>();

  /** The indexer reserves room as the pack arrives (`reserve`); `add` grows by half past that. */
  constructor(capacity: number) {
    this.offsetLow = new Uint32Array(capacity);
    this.offsetHigh = new Uint8Array(capacity);
    this.headerLength = new Uint8Array(capacity);
    this.sizeLow = new Uint32Array(capacity);
    this.objType = new Uint8Array(capacity);
    this.crc = new Uint32Array(capacity);
    this.base = new Int32Array(capacity).fill(-1);
    this.key = new Int32Array(capacity).fill(-1);
  }

  offset(i: number): number {
    return this.offsetHigh[i]! * 2 ** 32 + this.offsetLow[i]!;
  }

  setOffset(i: number, offset: number): void {
    if (offset >= 2 ** 40) throw new RangeError(`pack offset ${offset} is beyond 1 TiB`);
    this.offsetLow[i] = offset % 2 ** 32;
    this.offsetHigh[i] = Math.floor(offset / 2 ** 32);
  }

  size(i: number): number {
    return this.bigSizes.get(i) ?? this.sizeLow[i]!;
  }

  setSize(i: number, size: number): void {
    if (size < 2 ** 32) this.sizeLow[i] = size;
    else this.bigSizes.set(i, size);
  }

  dataStart(i: number): number {
    return this.offset(i) + this.headerLength[i]!;
  }

  add(): number {
    if (this.count === this.crc.length) this.resize(Math.max(16, Math.ceil(this.crc.length * 1.5)));
    return this.count++;
  }

  /** Drops the OFS_DELTA bases once delta resolution has sorted the deltas by base. */
  releaseBases(): void {
    this.base = new Int32Array(0);
  }

  /** Room for `entries` at once (a pack that has arrived): one allocation instead of a doubling series. */
  reserve(entries: number): void {
    if (entries > this.crc.length) this.resize(entries);
  }

  private resize(next: number): void {
    const widen = <T extends Uint8Array | Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(next);
      b.set(a as never);
      return b;
    };
    this.offsetLow = widen(this.offsetLow, (n) => new Uint32Array(n));
    this.offsetHigh = widen(this.offsetHigh, (n) => new Uint8Array(n));
    this.headerLength = widen(this.headerLength, (n) => new Uint8Array(n));
    this.sizeLow = widen(this.sizeLow, (n) => new Uint32Array(n));
    this.objType = widen(this.objType, (n) => new Uint8Array(n));
    this.crc = widen(this.crc, (n) => new Uint32Array(n));
    if (this.base.length > 0) this.base = widen(this.base, (n) => new Int32Array(n).fill(-1));
    this.key = widen(this.key, (n) => new Int32Array(n).fill(-1));
  }

  /** Entry index starting exactly at `offset` (entries are in offset order), or -1. */
  atOffset(offset: number, below: number): number {
    let lo = 0;
    let hi = below;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offset(mid) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < below && this.offset(lo) === offset ? lo : -1;
  }
}
