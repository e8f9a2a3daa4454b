import { printable } from '../lib/text.ts';
import type { ObjectType } from './objects.ts';

/**
 * The checks native `git fsck` makes of one object, with git's default severities (fsck.h,
 * FSCK_MSG_*): an error refuses the object, a warning (or info) is reported and accepted. Relics
 * of old tools (`040000` modes, `100664`, tags without a tagger) are warnings there, so real
 * histories pass. Exception, for safety: names git warns about but every checkout refuses (`.`,
 * `..`, `.git`, names with `/`) are errors here too, since slipway checks commits out to deploy them.
 * Blobs are opaque.
 */
export interface FsckReport {
  /** `msgId: what`, when git (or the exception above) refuses the object */
  error: string | null;
  /** git's camelCase message ids of what it only warns about */
  warnings: string[];
}

export function fsckObject(type: ObjectType, data: Buffer): FsckReport {
  const r = new Reporter();
  switch (type) {
    case 'commit':
      checkCommit(data, r);
      break;
    case 'tree':
      checkTree(data, r);
      break;
    case 'tag':
      checkTag(data, r);
      break;
    case 'blob':
      break;
  }
  return { error: r.error, warnings: r.warnings };
}

class Reporter {
  error: string | null = null;
  warnings: string[] = [];

  fail(id: string, what: string): false {
    this.error ??= `${id}: ${what}`;
    return false;
  }

  warn(id: string): void {
    if (!this.warnings.includes(id)) this.warnings.push(id);
  }
}

/** git's verify_headers: no NUL before the blank line, and the header block ends with a newline. */
function verifyHeaders(data: Buffer, r: Reporter): boolean {
  const blank = data.indexOf('\n\n');
  const headerEnd = blank < 0 ? data.length : blank;
  if (data.subarray(0, headerEnd).includes(0)) return r.fail('nulInHeader', 'NUL byte in the header');
  if (blank < 0 && data[data.length - 1] !== 0x0a) return r.fail('unterminatedHeader', 'header does not end with a newline');
  return true;
}

/** A cursor over the header lines of a commit or tag. */
class Lines {
  pos = 0;
  constructor(private readonly text: string) {}

  /** Consumes `key ` at the cursor and returns the rest of that line (null if the key is not there or the line does not end). */
  take(key: string): string | null {
    if (!this.text.startsWith(`${key} `, this.pos)) return null;
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

/** git's fsck_ident, message for message: `Name <email> <seconds> <+|-HHMM>`. */
function checkIdent(value: string, r: Reporter): boolean {
  if (value.startsWith('<')) return r.fail('missingNameBeforeEmail', 'ident has no name before the email');
  let p = value.search(/[<>]/);
  if (p < 0) return r.fail('missingEmail', 'ident has no email');
  if (value[p] === '>') return r.fail('badName', 'ident name contains >');
  if (value[p - 1] !== ' ') return r.fail('missingSpaceBeforeEmail', 'ident has no space before the email');
  const close = value.slice(p + 1).search(/[<>]/);
  if (close < 0 || value[p + 1 + close] !== '>') return r.fail('badEmail', 'ident email is malformed');
  p += close + 2;
  if (value[p] !== ' ') return r.fail('missingSpaceBeforeDate', 'ident has no space before the date');
  const rest = value.slice(p + 1);
  if (rest[0] === '0' && rest[1] !== ' ') return r.fail('zeroPaddedDate', 'ident date is zero-padded');
  const m = /^([0-9]+)(.*)$/.exec(rest);
  if (!m) return r.fail('badDate', 'ident date is not a number');
  if (m[1]!.length > 18) return r.fail('badDateOverflow', 'ident date overflows');
  if (!m[2]!.startsWith(' ')) return r.fail('badDate', 'ident date is not followed by a time zone');
  if (!/^ [+-][0-9]{4}$/.test(m[2]!)) return r.fail('badTimezone', 'ident time zone is malformed');
  return true;
}

function checkCommit(data: Buffer, r: Reporter): void {
  if (!verifyHeaders(data, r)) return;
  const lines = new Lines(data.toString('latin1'));
  const tree = lines.take('tree');
  if (tree === null) return void r.fail('missingTree', 'commit has no tree line');
  if (!OID_RE.test(tree)) return void r.fail('badTreeSha1', 'commit tree line is malformed');
  while (lines.startsWith('parent')) {
    const parent = lines.take('parent');
    if (parent === null || !OID_RE.test(parent)) return void r.fail('badParentSha1', 'commit parent line is malformed');
  }
  let authors = 0;
  for (let a = lines.take('author'); a !== null; a = lines.take('author')) {
    authors++;
    if (!checkIdent(a, r)) return;
  }
  if (authors === 0) return void r.fail('missingAuthor', 'commit has no author line');
  if (authors > 1) return void r.fail('multipleAuthors', 'commit has more than one author line');
  const committer = lines.take('committer');
  if (committer === null) return void r.fail('missingCommitter', 'commit has no committer line');
  if (!checkIdent(committer, r)) return;
  if (data.includes(0)) r.warn('nulInCommit');
}

const TAG_TYPES = new Set(['commit', 'tree', 'blob', 'tag']);

function checkTag(data: Buffer, r: Reporter): void {
  if (!verifyHeaders(data, r)) return;
  const lines = new Lines(data.toString('latin1'));
  const object = lines.take('object');
  if (object === null) return void r.fail('missingObject', "tag has no 'object' line");
  if (!OID_RE.test(object)) return void r.fail('badObjectSha1', 'tag object line is malformed');
  if (!lines.startsWith('type')) return void r.fail('missingTypeEntry', "tag has no 'type' line");
  const type = lines.take('type');
  if (type === null) return void r.fail('missingType', 'tag type line does not end');
  if (!TAG_TYPES.has(type)) return void r.fail('badType', `tag names an unknown type '${printable(type, 80)}'`);
  if (!lines.startsWith('tag')) return void r.fail('missingTagEntry', "tag has no 'tag' line");
  const name = lines.take('tag');
  if (name === null) return void r.fail('missingTag', 'tag name line does not end');
  if (!lines.startsWith('tagger')) {
    r.warn('missingTaggerEntry'); // early tags have no tagger
    return;
  }
  checkIdent(lines.take('tagger') ?? '', r);
}

/** Tree entries are walked by offset, without copies: a whole history has millions of them. */
function checkTree(data: Buffer, r: Reporter): void {
  let pos = 0;
  let prevStart = -1;
  let prevEnd = -1;
  let prevIsTree = false;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const nul = sp < 0 ? -1 : data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 21 > data.length) return void r.fail('badTree', 'tree entry is truncated');
    let bits = 0;
    for (let m = pos; m < sp; m++) {
      const c = data[m]!;
      if (c < 0x30 || c > 0x37 || sp - pos > 12) return void r.fail('badTree', `tree entry has a malformed mode '${printable(data.toString('latin1', pos, sp), 80)}'`);
      bits = bits * 8 + (c - 0x30);
    }
    if (sp === pos) return void r.fail('badTree', "tree entry has a malformed mode ''");
    const start = sp + 1;
    const len = nul - start;
    if (len === 0) return void r.fail('badTree', 'tree entry has an empty name');
    if (uncheckable(data, start, nul)) {
      return void r.fail('badTreeEntryName', `tree entry '${printable(data.toString('latin1', start, nul), 80)}' can not be checked out (git refuses it too)`);
    }
    if (data[pos] === 0x30) r.warn('zeroPaddedFilemode');
    if (!STANDARD_MODES.has(bits)) r.warn('badFilemode');
    if (data.compare(NULL_OID, 0, 20, nul + 1, nul + 21) === 0) r.warn('nullSha1');
    const isTree = (bits & 0o170000) === 0o040000;
    if (prevStart >= 0) {
      const cmp = compareEntries(data, prevStart, prevEnd, prevIsTree, start, nul, isTree);
      const text = () => printable(data.toString('latin1', start, nul), 80);
      if (cmp === 0) return void r.fail('duplicateEntries', `tree has a duplicate entry '${text()}'`);
      if (cmp > 0) return void r.fail('treeNotSorted', `tree entries are not sorted at '${text()}'`);
    }
    prevStart = start;
    prevEnd = nul;
    prevIsTree = isTree;
    pos = nul + 21;
  }
}

const NULL_OID = Buffer.alloc(20);

/** `.`, `..`, `.git` in any case, or a name holding `/`. */
function uncheckable(data: Buffer, start: number, end: number): boolean {
  const len = end - start;
  if (data.indexOf(0x2f, start) >= 0 && data.indexOf(0x2f, start) < end) return true;
  if (data[start] !== 0x2e) return false;
  if (len === 1 || (len === 2 && data[start + 1] === 0x2e)) return true;
  return len === 4 && data.toString('latin1', start + 1, end).toLowerCase() === 'git';
}

/** Modes git writes, plus 100664: old gits wrote it and git fsck accepts it silently. */
const STANDARD_MODES = new Set([0o100755, 0o100644, 0o100664, 0o120000, 0o040000, 0o160000]);

/** git's base_name_compare over two names in `data`: a tree sorts as if its name ended with '/'; equal names are duplicates. */
function compareEntries(data: Buffer, aStart: number, aEnd: number, aTree: boolean, bStart: number, bEnd: number, bTree: boolean): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const len = Math.min(aLen, bLen);
  const c = data.compare(data, bStart, bStart + len, aStart, aStart + len);
  if (c !== 0) return c;
  if (aLen === bLen) return 0;
  const next = (start: number, nameLen: number, tree: boolean) => (nameLen > len ? data[start + len]! : tree ? 0x2f : 0);
  return next(aStart, aLen, aTree) - next(bStart, bLen, bTree);
}
