import { refNameError } from '../lib/ref-name.ts';
import { printable } from '../lib/text.ts';
import { checkGitmodules } from './gitmodules.ts';
import { isDotgit, isDotgitattributes, isDotgitignore, isDotgitmodules, isDotmailmap, isNtfsDotgitAt, isNtfsDotgitmodulesAt, mayBeSpecial } from './fsck-names.ts';
import type { ObjectType } from './objects.ts';

/**
 * The checks native `git fsck` makes of one object, with git's default severities (fsck.h,
 * FSCK_MSG_*, message ids as git prints them): an error refuses the object, a warning (or info)
 * is reported and accepted. Relics of old tools (`040000` modes, `100664`, tags without a tagger)
 * are warnings there, so real histories pass. Exception, for safety: tree entries git only warns
 * about but that attack whoever checks them out (`hasDot`, `hasDotdot`, `fullPathname`,
 * `hasDotgit`: `.git` as any file system reads it, `.git ` or `git~1` on NTFS, `.g\u200cit` on
 * HFS+) are errors here, as on GitHub: slipway checks commits out to deploy them, and every
 * clone would get them.
 */
export interface FsckReport {
  /** `msgId: what`, when git (or the exception above) refuses the object */
  error: string | null;
  /** git's camelCase message ids of what it only warns about */
  warnings: string[];
  /** blobs a tree names `.gitmodules` or `.gitattributes`: checked with fsckSpecialBlob once every object is there (git's fsck_finish) */
  special: SpecialBlob[];
}

export type SpecialKind = 'gitmodules' | 'gitattributes';

export interface SpecialBlob {
  oid: string;
  kind: SpecialKind;
}

/** Sees each tree entry as fsck walks it: its mode (as git's parse_mode reads it) and where its oid starts in the tree's data. */
export type TreeEntrySink = (mode: number, oidAt: number) => void;

/** `onEntry` lets a caller learn a tree's links from the same pass. */
export function fsckObject(type: ObjectType, data: Buffer, onEntry?: TreeEntrySink): FsckReport {
  const r = new Reporter();
  switch (type) {
    case 'commit':
      checkCommit(data, r);
      break;
    case 'tree':
      checkTree(data, r, onEntry);
      break;
    case 'tag':
      checkTag(data, r);
      break;
    case 'blob':
      break;
  }
  return r.report();
}

/** git's limits for .gitattributes (attr.h): larger files and longer lines are not read. */
const ATTR_MAX_FILE_SIZE = 100 * 1024 * 1024;
const ATTR_MAX_LINE_LENGTH = 2048;

/**
 * The checks of a blob a tree names `.gitmodules` or `.gitattributes` (`obj` null when it is
 * missing), as git's fsck_blob and fsck_finish make them.
 */
export function fsckSpecialBlob(kind: SpecialKind, obj: { type: ObjectType; data: Buffer } | null): FsckReport {
  const r = new Reporter();
  const file = `.${kind}`;
  if (!obj) r.fail(kind === 'gitmodules' ? 'gitmodulesMissing' : 'gitattributesMissing', `unable to read ${file} blob`);
  else if (obj.type !== 'blob') r.fail(kind === 'gitmodules' ? 'gitmodulesBlob' : 'gitattributesBlob', `non-blob found at ${file}`);
  else if (kind === 'gitmodules') {
    const g = checkGitmodules(obj.data);
    for (const p of g.problems) r.fail(p.id, printable(p.what, 200));
    if (g.parseError) r.warn('gitmodulesParse');
  } else if (obj.data.length > ATTR_MAX_FILE_SIZE) r.fail('gitattributesLarge', '.gitattributes too large to parse');
  else {
    const nul = obj.data.indexOf(0);
    const end = nul < 0 ? obj.data.length : nul;
    for (let p = 0; p < end; ) {
      let eol = obj.data.indexOf(0x0a, p);
      if (eol < 0 || eol > end) eol = end;
      if (eol - p >= ATTR_MAX_LINE_LENGTH) {
        r.fail('gitattributesLineLength', '.gitattributes has too long lines to parse');
        break;
      }
      p = eol + 1;
    }
  }
  return r.report();
}

class Reporter {
  error: string | null = null;
  warnings: string[] = [];
  special: SpecialBlob[] = [];

  fail(id: string, what: string): false {
    this.error ??= `${id}: ${what}`;
    return false;
  }

  warn(id: string): void {
    if (!this.warnings.includes(id)) this.warnings.push(id);
  }

  report(): FsckReport {
    return { error: this.error, warnings: this.warnings, special: this.error ? [] : this.special };
  }
}

/** git's verify_headers: no NUL before the blank line, and the header block ends with a newline. */
function verifyHeaders(data: Buffer, r: Reporter): boolean {
  const blank = data.indexOf('\n\n');
  const headerEnd = blank < 0 ? data.length : blank;
  const nul = data.subarray(0, headerEnd).indexOf(0);
  if (nul >= 0) return r.fail('nulInHeader', `unterminated header: NUL at offset ${nul}`);
  if (blank < 0 && data[data.length - 1] !== 0x0a) return r.fail('unterminatedHeader', 'unterminated header');
  return true;
}

/** A cursor over the header lines of a commit or tag (latin1, so one character is one byte). */
class Lines {
  pos = 0;
  constructor(readonly text: string) {}

  /** Consumes `key ` at the cursor and returns the rest of that line (null if the key is not there or the line does not end). */
  take(key: string): string | null {
    if (!this.startsWith(key)) return null;
    const eol = this.text.indexOf('\n', this.pos);
    if (eol < 0) return null;
    const value = this.text.slice(this.pos + key.length + 1, eol);
    this.pos = eol + 1;
    return value;
  }

  startsWith(key: string): boolean {
    return this.text.startsWith(`${key} `, this.pos);
  }
}

const OID_RE = /^[0-9a-f]{40}$/;
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
/** git stores dates as unsigned 64-bit and hands them to time_t: larger ones overflow (date_overflows). */
const MAX_DATE = 2n ** 63n - 1n;

/** git's fsck_ident, message for message: `Name <email> <seconds> <+|-HHMM>`. */
function checkIdent(value: string, r: Reporter): boolean {
  const bad = (id: string, what: string) => r.fail(id, `invalid author/committer line - ${what}`);
  if (value.startsWith('<')) return bad('missingNameBeforeEmail', 'missing space before email');
  let p = value.search(/[<>]/);
  if (p < 0) return bad('missingEmail', 'missing email');
  if (value[p] === '>') return bad('badName', 'bad name');
  if (value[p - 1] !== ' ') return bad('missingSpaceBeforeEmail', 'missing space before email');
  const close = value.slice(p + 1).search(/[<>]/);
  if (close < 0 || value[p + 1 + close] !== '>') return bad('badEmail', 'bad email');
  p += close + 2;
  if (value[p] !== ' ') return bad('missingSpaceBeforeDate', 'missing space before date');
  p++;
  while (value[p] === ' ' || value[p] === '\t') p++;
  if (!isDigit(value[p])) return bad('badDate', 'bad date');
  if (value[p] === '0' && value[p + 1] !== ' ') return bad('zeroPaddedDate', 'zero-padded date');
  const start = p;
  while (isDigit(value[p])) p++;
  if (BigInt(value.slice(start, p)) > MAX_DATE) return bad('badDateOverflow', 'date causes integer overflow');
  if (value[p] !== ' ') return bad('badDate', 'bad date');
  if (!/^[+-][0-9]{4}$/.test(value.slice(p + 1))) return bad('badTimezone', 'bad time zone');
  return true;
}

function checkCommit(data: Buffer, r: Reporter): void {
  if (!verifyHeaders(data, r)) return;
  const lines = new Lines(data.toString('latin1'));
  if (!lines.startsWith('tree')) return void r.fail('missingTree', "invalid format - expected 'tree' line");
  const tree = lines.take('tree');
  if (tree === null || !OID_RE.test(tree)) return void r.fail('badTreeSha1', "invalid 'tree' line format - bad sha1");
  while (lines.startsWith('parent')) {
    const parent = lines.take('parent');
    if (parent === null || !OID_RE.test(parent)) return void r.fail('badParentSha1', "invalid 'parent' line format - bad sha1");
  }
  let authors = 0;
  for (let a = lines.take('author'); a !== null; a = lines.take('author')) {
    authors++;
    if (!checkIdent(a, r)) return;
  }
  if (authors === 0) return void r.fail('missingAuthor', "invalid format - expected 'author' line");
  if (authors > 1) return void r.fail('multipleAuthors', "invalid format - multiple 'author' lines");
  const committer = lines.take('committer');
  if (committer === null) return void r.fail('missingCommitter', "invalid format - expected 'committer' line");
  if (!checkIdent(committer, r)) return;
  if (data.includes(0)) r.warn('nulInCommit');
}

const TAG_TYPES = new Set(['commit', 'tree', 'blob', 'tag']);

function checkTag(data: Buffer, r: Reporter): void {
  if (!verifyHeaders(data, r)) return;
  const lines = new Lines(data.toString('latin1'));
  if (!lines.startsWith('object')) return void r.fail('missingObject', "invalid format - expected 'object' line");
  const object = lines.take('object');
  if (object === null || !OID_RE.test(object)) return void r.fail('badObjectSha1', "invalid 'object' line format - bad sha1");
  if (!lines.startsWith('type')) return void r.fail('missingTypeEntry', "invalid format - expected 'type' line");
  const type = lines.take('type');
  if (type === null) return void r.fail('missingType', "invalid format - unexpected end after 'type' line");
  if (!TAG_TYPES.has(type)) return void r.fail('badType', `invalid 'type' value '${printable(type, 80)}'`);
  if (!lines.startsWith('tag')) return void r.fail('missingTagEntry', "invalid format - expected 'tag' line");
  const name = lines.take('tag');
  if (name === null) return void r.fail('missingTag', "invalid format - unexpected end after 'type' line");
  if (refNameError(`refs/tags/${name}`)) r.warn('badTagName');
  if (!lines.startsWith('tagger')) {
    r.warn('missingTaggerEntry'); // early tags have no tagger
    return;
  }
  checkIdent(lines.take('tagger') ?? '', r);
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * git's fsck_tree. Entries are walked by offset, without copies: a whole history has millions of
 * them. The mode is read as git's parse_mode does (octal digits into 16 bits).
 */
function checkTree(data: Buffer, r: Reporter, onEntry?: TreeEntrySink): void {
  /** message id → the first entry name it was seen on */
  const flags = new Flags();
  let prevStart = -1;
  let prevEnd = -1;
  let prevMode = 0;
  /** names that a later tree entry could duplicate (git's df_dup_candidates) */
  const candidates: Array<[number, number]> = [];
  let pos = 0;
  while (pos < data.length) {
    // Byte loops, not indexOf: a history has millions of entries of a few bytes each.
    let sp = pos;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    let nul = sp + 1;
    let slash = false;
    for (; nul < data.length && data[nul] !== 0; nul++) if (data[nul] === 0x2f) slash = true;
    if (sp >= data.length || nul >= data.length || nul + 21 > data.length) return void r.fail('badTree', 'cannot be parsed as a tree (truncated entry)');
    if (sp === pos) return void r.fail('badTree', 'cannot be parsed as a tree (malformed mode in tree entry)');
    let mode = 0;
    for (let m = pos; m < sp; m++) {
      const c = data[m]!;
      if (c < 0x30 || c > 0x37) return void r.fail('badTree', `cannot be parsed as a tree (malformed mode '${printable(data.toString('latin1', pos, sp), 80)}')`);
      mode = ((mode << 3) + (c - 0x30)) & 0xffff;
    }
    const start = sp + 1;
    if (nul === start) return void r.fail('badTree', 'cannot be parsed as a tree (empty filename in tree entry)');
    flags.at(data, start, nul);
    if (data[nul + 1] === 0 && data.compare(NULL_OID, 0, 20, nul + 1, nul + 21) === 0) flags.add('nullSha1');
    if (data[pos] === 0x30) flags.add('zeroPaddedFilemode');
    if (slash) flags.add('fullPathname');
    const len = nul - start;
    if (data[start] === 0x2e && (len === 1 || (len === 2 && data[start + 1] === 0x2e))) flags.add(len === 1 ? 'hasDot' : 'hasDotdot');
    if (mayBeSpecial(data, start, nul)) checkSpecialName(data, start, nul, mode, r, flags);
    if (!STANDARD_MODES.has(mode)) flags.add('badFilemode');
    if (prevStart >= 0) {
      const order = verifyOrdered(data, prevMode, prevStart, prevEnd, mode, start, nul, candidates);
      if (order !== 0) flags.add(order === TREE_HAS_DUPS ? 'duplicateEntries' : 'treeNotSorted');
    }
    onEntry?.(mode, nul + 1);
    prevStart = start;
    prevEnd = nul;
    prevMode = mode;
    pos = nul + 21;
  }
  // In git's order of reports; the first error is the one named.
  for (const [id, what] of TREE_FLAGS) {
    const name = flags.seen.get(id);
    if (name === undefined) continue;
    if (TREE_ERRORS.has(id)) r.fail(id, `${what} (entry '${printable(name, 80)}')`);
    else r.warn(id);
  }
}

/** The tree's message ids, each with the name of the first entry it was seen on (for the pusher). */
class Flags {
  readonly seen = new Map<string, string>();
  private data: Buffer = NULL_OID;
  private start = 0;
  private end = 0;

  at(data: Buffer, start: number, end: number): void {
    this.data = data;
    this.start = start;
    this.end = end;
  }

  add(id: string): void {
    if (!this.seen.has(id)) this.seen.set(id, this.data.toString('utf8', this.start, this.end));
  }
}

const TREE_FLAGS: Array<[string, string]> = [
  ['nullSha1', 'contains entries pointing to null sha1'],
  ['fullPathname', 'contains full pathnames'],
  ['hasDot', "contains '.'"],
  ['hasDotdot', "contains '..'"],
  ['hasDotgit', "contains '.git'"],
  ['zeroPaddedFilemode', 'contains zero-padded file modes'],
  ['badFilemode', 'contains bad file modes'],
  ['duplicateEntries', 'contains duplicate file entries'],
  ['treeNotSorted', 'not properly sorted'],
];
/** git's errors, plus the names refused here although git only warns (see FsckReport) */
const TREE_ERRORS = new Set(['duplicateEntries', 'treeNotSorted', 'fullPathname', 'hasDot', 'hasDotdot', 'hasDotgit']);

/** `.git`, `.gitmodules` and friends in every spelling git recognizes, and what follows each `\`. */
function checkSpecialName(data: Buffer, start: number, end: number, mode: number, r: Reporter, flags: Flags): void {
  const symlink = (mode & S_IFMT) === S_IFLNK;
  const oid = () => data.toString('hex', end + 1, end + 21);
  const gitmodules = () => {
    if (symlink) r.fail('gitmodulesSymlink', '.gitmodules is a symbolic link');
    else r.special.push({ oid: oid(), kind: 'gitmodules' });
  };
  if (isDotgit(data, start, end)) flags.add('hasDotgit');
  if (isDotgitmodules(data, start, end)) gitmodules();
  if (isDotgitattributes(data, start, end)) {
    if (symlink) r.warn('gitattributesSymlink');
    else r.special.push({ oid: oid(), kind: 'gitattributes' });
  }
  if (symlink && isDotgitignore(data, start, end)) r.warn('gitignoreSymlink');
  if (symlink && isDotmailmap(data, start, end)) r.warn('mailmapSymlink');
  for (let bs = data.indexOf(0x5c, start); bs >= 0 && bs < end; bs = data.indexOf(0x5c, bs + 1)) {
    if (isNtfsDotgitAt(data, bs + 1, end)) flags.add('hasDotgit');
    if (isNtfsDotgitmodulesAt(data, bs + 1, end)) gitmodules();
  }
}

const NULL_OID = Buffer.alloc(20);

/** Modes git writes, plus 100664: old gits wrote it and git fsck accepts it silently. */
const STANDARD_MODES = new Set([0o100755, 0o100644, 0o100664, 0o120000, 0o040000, 0o160000]);

const TREE_UNORDERED = -1;
const TREE_HAS_DUPS = -2;
const lessThanSlash = (c: number) => c > 0 && c < 0x2f;

/**
 * git's verify_ordered over two consecutive entries: a tree sorts as if its name ended with '/'.
 * `candidates` catches duplicates that are not adjacent (`foo`, `foo.bar`, `foo/`).
 */
function verifyOrdered(data: Buffer, mode1: number, s1: number, e1: number, mode2: number, s2: number, e2: number, candidates: Array<[number, number]>): number {
  const len1 = e1 - s1;
  const len2 = e2 - s2;
  const len = Math.min(len1, len2);
  let k = 0;
  while (k < len && data[s1 + k] === data[s2 + k]) k++;
  if (k < len) return data[s1 + k]! < data[s2 + k]! ? 0 : TREE_UNORDERED;
  let c1 = len1 > len ? data[s1 + len]! : 0;
  let c2 = len2 > len ? data[s2 + len]! : 0;
  if (!c1 && !c2) return TREE_HAS_DUPS;
  if (!c1 && (mode1 & S_IFMT) === S_IFDIR) c1 = 0x2f;
  if (!c2 && (mode2 & S_IFMT) === S_IFDIR) c2 = 0x2f;
  if (!c1 && lessThanSlash(c2)) candidates.push([s1, e1]);
  else if (c2 === 0x2f && lessThanSlash(c1)) {
    for (;;) {
      const f = candidates.pop();
      if (!f) break;
      const fLen = f[1] - f[0];
      if (fLen > len2 || data.compare(data, f[0], f[1], s2, s2 + fLen) !== 0) continue;
      if (fLen === len2) return TREE_HAS_DUPS;
      if (lessThanSlash(data[s2 + fLen]!)) {
        candidates.push(f);
        break;
      }
    }
  }
  return c1 < c2 ? 0 : TREE_UNORDERED;
}
