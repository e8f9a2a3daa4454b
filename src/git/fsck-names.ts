/**
 * The tree entry names git treats as `.git`, `.gitmodules` and friends on any file system a clone
 * may land on (git's is_hfs_dot* in utf8.c and is_ntfs_dot* in path.c): HFS+ ignores some code
 * points and folds case; NTFS drops trailing spaces and dots, stops at `:` (a stream name) and
 * has 8.3 short names (`git~1`, `gitmod~1`, `gi7eba~1`). Names are raw bytes, as in the tree.
 */

/** Code points HFS+ ignores in names. */
const HFS_IGNORED = new Set([0x200c, 0x200d, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x206a, 0x206b, 0x206c, 0x206d, 0x206e, 0x206f, 0xfeff]);

/** A cursor over UTF-8 as git's pick_one_utf8_char reads it: 0 at the end or at invalid UTF-8 (and then stays there). */
class Utf8Cursor {
  constructor(
    private readonly b: Buffer,
    private pos: number,
    private readonly end: number,
  ) {}

  private pick(): number {
    const b = this.b;
    const p = this.pos;
    const at = (i: number) => (p + i < this.end ? b[p + i]! : 0);
    const s0 = at(0);
    let ch: number;
    let n: number;
    if (p >= this.end) return 0;
    if (s0 < 0x80) {
      ch = s0;
      n = 1;
    } else if ((s0 & 0xe0) === 0xc0) {
      if ((at(1) & 0xc0) !== 0x80 || (s0 & 0xfe) === 0xc0) return this.invalid();
      ch = ((s0 & 0x1f) << 6) | (at(1) & 0x3f);
      n = 2;
    } else if ((s0 & 0xf0) === 0xe0) {
      const s1 = at(1);
      const s2 = at(2);
      if ((s1 & 0xc0) !== 0x80 || (s2 & 0xc0) !== 0x80) return this.invalid();
      if ((s0 === 0xe0 && (s1 & 0xe0) === 0x80) || (s0 === 0xed && (s1 & 0xe0) === 0xa0) || (s0 === 0xef && s1 === 0xbf && (s2 & 0xfe) === 0xbe)) return this.invalid();
      ch = ((s0 & 0x0f) << 12) | ((s1 & 0x3f) << 6) | (s2 & 0x3f);
      n = 3;
    } else if ((s0 & 0xf8) === 0xf0) {
      const s1 = at(1);
      if ((s1 & 0xc0) !== 0x80 || (at(2) & 0xc0) !== 0x80 || (at(3) & 0xc0) !== 0x80) return this.invalid();
      if ((s0 === 0xf0 && (s1 & 0xf0) === 0x80) || (s0 === 0xf4 && s1 > 0x8f) || s0 > 0xf4) return this.invalid();
      ch = ((s0 & 0x07) << 18) | ((s1 & 0x3f) << 12) | ((at(2) & 0x3f) << 6) | (at(3) & 0x3f);
      n = 4;
    } else return this.invalid();
    this.pos += n;
    return ch;
  }

  private invalid(): number {
    this.pos = this.end;
    return 0;
  }

  /** The next code point HFS+ does not ignore. */
  nextHfs(): number {
    for (;;) {
      const c = this.pick();
      if (c === 0 || !HFS_IGNORED.has(c)) return c;
    }
  }
}

function isHfsDot(b: Buffer, start: number, end: number, needle: string): boolean {
  const cur = new Utf8Cursor(b, start, end);
  if (cur.nextHfs() !== 0x2e) return false;
  for (let i = 0; i < needle.length; i++) {
    const c = cur.nextHfs();
    if (c > 127 || asciiLower(c) !== needle.charCodeAt(i)) return false;
  }
  const c = cur.nextHfs();
  return c === 0 || c === 0x2f;
}

const asciiLower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/** git's is_ntfs_dotgit: `.git` or `git~1`, any case, then only spaces and dots up to the end, a separator or `:`. */
function isNtfsDotgit(b: Buffer, start: number, end: number): boolean {
  const at = (i: number) => (start + i < end ? b[start + i]! : 0);
  let i: number;
  if (at(0) === 0x2e) {
    if (asciiLower(at(1)) !== 0x67 || asciiLower(at(2)) !== 0x69 || asciiLower(at(3)) !== 0x74) return false;
    i = 4;
  } else if (asciiLower(at(0)) === 0x67) {
    if (asciiLower(at(1)) !== 0x69 || asciiLower(at(2)) !== 0x74 || at(3) !== 0x7e || at(4) !== 0x31) return false;
    i = 5;
  } else return false;
  for (;; i++) {
    const c = at(i);
    if (c === 0 || c === 0x2f || c === 0x5c || c === 0x3a) return true;
    if (c !== 0x2e && c !== 0x20) return false;
  }
}

/** git's is_ntfs_dot_generic: `.<name>`, its 6-letter short name `~1`..`~4`, or the hashed fall-back short name. */
function isNtfsDot(b: Buffer, start: number, end: number, name: string, shortPrefix: string): boolean {
  const at = (i: number) => (start + i < end ? b[start + i]! : 0);
  const onlySpacesAndPeriods = (i: number): boolean => {
    for (;; i++) {
      const c = at(i);
      if (c === 0 || c === 0x3a) return true;
      if (c !== 0x20 && c !== 0x2e) return false;
    }
  };
  const caseEq = (off: number, s: string, n: number) => {
    for (let k = 0; k < n; k++) if (asciiLower(at(off + k)) !== s.charCodeAt(k)) return false;
    return true;
  };
  if (at(0) === 0x2e && caseEq(1, name, name.length)) return onlySpacesAndPeriods(name.length + 1);
  if (caseEq(0, name, 6) && at(6) === 0x7e && at(7) >= 0x31 && at(7) <= 0x34) return onlySpacesAndPeriods(8);
  let sawTilde = false;
  for (let i = 0; i < 8; i++) {
    const c = at(i);
    if (c === 0) return false;
    if (sawTilde) {
      if (c < 0x30 || c > 0x39) return false;
    } else if (c === 0x7e) {
      const d = at(++i);
      if (d < 0x31 || d > 0x39) return false;
      sawTilde = true;
    } else if (i >= 6) return false;
    else if (c & 0x80) return false;
    else if (asciiLower(c) !== shortPrefix.charCodeAt(i)) return false;
  }
  return onlySpacesAndPeriods(8);
}

/** Bytes a special name can start with (`.`, `g`, `G`, `~`, an HFS-ignored code point) or hold (`\`): a fast pre-check. */
export function mayBeSpecial(b: Buffer, start: number, end: number): boolean {
  const c = b[start]!;
  if (c === 0x2e || c === 0x67 || c === 0x47 || c === 0x7e || c === 0xe2 || c === 0xef) return true;
  // A loop bounded by the name: indexOf would search the rest of the tree for every entry.
  for (let p = start; p < end; p++) if (b[p] === 0x5c) return true;
  return false;
}

export const isDotgit = (b: Buffer, s: number, e: number) => isHfsDot(b, s, e, 'git') || isNtfsDotgit(b, s, e);
export const isDotgitmodules = (b: Buffer, s: number, e: number) => isHfsDot(b, s, e, 'gitmodules') || isNtfsDot(b, s, e, 'gitmodules', 'gi7eba');
export const isDotgitattributes = (b: Buffer, s: number, e: number) => isHfsDot(b, s, e, 'gitattributes') || isNtfsDot(b, s, e, 'gitattributes', 'gi7d29');
export const isDotgitignore = (b: Buffer, s: number, e: number) => isHfsDot(b, s, e, 'gitignore') || isNtfsDot(b, s, e, 'gitignore', 'gi250a');
export const isDotmailmap = (b: Buffer, s: number, e: number) => isHfsDot(b, s, e, 'mailmap') || isNtfsDot(b, s, e, 'mailmap', 'maba30');
/** NTFS reads `\` as a separator: git checks what follows each one too. */
export const isNtfsDotgitAt = isNtfsDotgit;
export const isNtfsDotgitmodulesAt = (b: Buffer, s: number, e: number) => isNtfsDot(b, s, e, 'gitmodules', 'gi7eba');
