/**
 * A zip stream as native `git archive --format=zip` writes it, one entry at a time: only the
 * central directory (about 60 bytes an entry) is kept until the end. Each entry's local header
 * carries its CRC and sizes (no data descriptors); regular files are deflated at the level asked
 * for and stored when that does not make them smaller; directories (and submodules) are
 * MS-DOS directory entries; executables and symlinks carry their Unix mode in the external
 * attributes (made by Unix 2.3), other files none (made by FAT), as git does. Every entry gets
 * the commit time as its DOS time (local time, as git) and a Unix time extra field; the archive
 * comment is the commit id. ZIP64 fields and the ZIP64 end records appear only where a size,
 * offset or count does not fit.
 */
import { crc32, deflateRawSync } from 'node:zlib';

const MAX16 = 0xffff;
const MAX32 = 0xffffffff;
/** A file with a NUL in its first 8000 bytes is binary (git's buffer_is_binary); others are marked text. */
const BINARY_PROBE = 8000;
const UTF8_NAMES = 1 << 11;
const UNIX_2_3 = 0x0317;

interface Written {
  name: Buffer;
  flags: number;
  method: number;
  crc: number;
  size: number;
  compressed: number;
  offset: number;
  versionNeeded: number;
  creator: number;
  text: boolean;
  external: number;
}

export class ZipWriter {
  private offset = 0;
  private readonly central: Buffer[] = [];
  private centralBytes = 0;
  private entries = 0;
  private maxCreator = 0;
  private readonly dosTime: number;
  private readonly dosDate: number;
  private readonly timeExtra: Buffer;

  /** `mtime`: seconds since the epoch; `level`: 0 (store) to 9. */
  constructor(
    mtime: number,
    private readonly level: number,
  ) {
    const t = new Date(mtime * 1000);
    // DOS dates start in 1980; git writes what an earlier (or post-2107) year wraps to, and so do we.
    this.dosDate = (t.getDate() + (t.getMonth() + 1) * 32 + (t.getFullYear() - 1980) * 512) & 0xffff;
    this.dosTime = Math.floor(t.getSeconds() / 2) + t.getMinutes() * 32 + t.getHours() * 2048;
    this.timeExtra = Buffer.alloc(9);
    this.timeExtra.writeUInt16LE(0x5455, 0);
    this.timeExtra.writeUInt16LE(5, 2);
    this.timeExtra.writeUInt8(1, 4); // mtime only
    this.timeExtra.writeUInt32LE(mtime >>> 0, 5);
  }

  /**
   * One entry: a git tree mode (0100644, 0100755, 0120000, 040000, 0160000) and its blob (a
   * symlink's target); a directory's name ends with `/`. Returns its local header and data.
   */
  entry(path: string, mode: number, data: Buffer): Buffer {
    const type = mode & 0o170000;
    const dir = type === 0o040000 || type === 0o160000;
    const symlink = type === 0o120000;
    const exec = !dir && !symlink && (mode & 0o111) !== 0;
    const name = Buffer.from(path, 'utf8');
    if (name.length > MAX16) throw new Error(`zip: path too long (${name.length} bytes): ${path.slice(0, 100)}…`);
    let method = 0;
    let body = dir ? Buffer.alloc(0) : data;
    if (!dir && !symlink && this.level > 0 && data.length > 0) {
      const deflated = deflateRawSync(data, { level: this.level });
      if (deflated.length < data.length) {
        method = 8;
        body = deflated;
      }
    }
    const e: Written = {
      name,
      // git marks non-ASCII names as UTF-8
      flags: /[^\x00-\x7f]/.test(path) ? UTF8_NAMES : 0,
      method,
      crc: dir ? 0 : crc32(data),
      size: dir ? 0 : data.length,
      compressed: body.length,
      offset: this.offset,
      versionNeeded: 10,
      creator: exec || symlink ? UNIX_2_3 : 0,
      text: !dir && !data.subarray(0, BINARY_PROBE).includes(0),
      external: dir ? 0x10 : symlink ? ((mode | 0o777) << 16) >>> 0 : exec ? (mode << 16) >>> 0 : 0,
    };
    const zip64 = e.size > MAX32 || e.compressed > MAX32;
    if (zip64) e.versionNeeded = 45;
    this.maxCreator = Math.max(this.maxCreator, e.creator);

    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(e.versionNeeded, 4);
    header.writeUInt16LE(e.flags, 6);
    header.writeUInt16LE(e.method, 8);
    header.writeUInt16LE(this.dosTime, 10);
    header.writeUInt16LE(this.dosDate, 12);
    header.writeUInt32LE(e.crc, 14);
    header.writeUInt32LE(zip64 ? MAX32 : e.compressed, 18);
    header.writeUInt32LE(zip64 ? MAX32 : e.size, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(this.timeExtra.length + (zip64 ? 20 : 0), 28);
    const parts = [header, name, this.timeExtra];
    if (zip64) {
      const x = Buffer.alloc(20);
      x.writeUInt16LE(0x0001, 0);
      x.writeUInt16LE(16, 2);
      x.writeBigUInt64LE(BigInt(e.size), 4);
      x.writeBigUInt64LE(BigInt(e.compressed), 12);
      parts.push(x);
    }
    parts.push(body);
    const out = Buffer.concat(parts);
    this.offset += out.length;
    this.addCentral(e);
    return out;
  }

  private addCentral(e: Written): void {
    // As git: a ZIP64 field for each value that does not fit, sizes before the offset.
    const big = [e.size, e.compressed, e.offset].filter((v) => v >= MAX32);
    const anyOver = e.size > MAX32 || e.compressed > MAX32 || e.offset > MAX32;
    const zip64 = anyOver ? Buffer.alloc(4 + 8 * big.length) : Buffer.alloc(0);
    if (anyOver) {
      zip64.writeUInt16LE(0x0001, 0);
      zip64.writeUInt16LE(8 * big.length, 2);
      big.forEach((v, i) => zip64.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
    }
    const h = Buffer.alloc(46);
    h.writeUInt32LE(0x02014b50, 0);
    h.writeUInt16LE(e.creator, 4);
    h.writeUInt16LE(e.versionNeeded, 6);
    h.writeUInt16LE(e.flags, 8);
    h.writeUInt16LE(e.method, 10);
    h.writeUInt16LE(this.dosTime, 12);
    h.writeUInt16LE(this.dosDate, 14);
    h.writeUInt32LE(e.crc, 16);
    h.writeUInt32LE(Math.min(e.compressed, MAX32), 20);
    h.writeUInt32LE(Math.min(e.size, MAX32), 24);
    h.writeUInt16LE(e.name.length, 28);
    h.writeUInt16LE(this.timeExtra.length + zip64.length, 30);
    // comment length, disk: 0
    h.writeUInt16LE(e.text ? 1 : 0, 36);
    h.writeUInt32LE(e.external, 38);
    h.writeUInt32LE(Math.min(e.offset, MAX32), 42);
    const record = Buffer.concat([h, e.name, this.timeExtra, zip64]);
    this.central.push(record);
    this.centralBytes += record.length;
    this.entries++;
  }

  /** The central directory and the end records; `comment`: the commit id, or null. */
  end(comment: string | null): Buffer {
    const start = this.offset;
    const parts = [...this.central];
    this.central.length = 0;
    if (this.entries > MAX16 || start > MAX32) {
      const rec = Buffer.alloc(56);
      rec.writeUInt32LE(0x06064b50, 0);
      rec.writeBigUInt64LE(44n, 4);
      rec.writeUInt16LE(this.maxCreator, 12);
      rec.writeUInt16LE(45, 14);
      // disk numbers: 0
      rec.writeBigUInt64LE(BigInt(this.entries), 24);
      rec.writeBigUInt64LE(BigInt(this.entries), 32);
      rec.writeBigUInt64LE(BigInt(this.centralBytes), 40);
      rec.writeBigUInt64LE(BigInt(start), 48);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeBigUInt64LE(BigInt(start + this.centralBytes), 8);
      locator.writeUInt32LE(1, 16);
      parts.push(rec, locator);
    }
    const text = Buffer.from(comment ?? '', 'latin1');
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(Math.min(this.entries, MAX16), 8);
    eocd.writeUInt16LE(Math.min(this.entries, MAX16), 10);
    eocd.writeUInt32LE(this.centralBytes >>> 0, 12);
    eocd.writeUInt32LE(Math.min(start, MAX32), 16);
    eocd.writeUInt16LE(text.length, 20);
    parts.push(eocd, text);
    return Buffer.concat(parts);
  }
}
