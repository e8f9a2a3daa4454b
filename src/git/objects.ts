/** Git object formats (gitformat-loose / git's object model): hashing, parsing, serializing. */
import { createHash } from 'node:crypto';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** Malformed git data (object, pack, index): the message says what and where. */
export class GitFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitFormatError';
  }
}

const OBJECT_TYPES: readonly string[] = ['commit', 'tree', 'blob', 'tag'];
const OID_RE = /^[0-9a-f]{40}$/;

export function isObjectType(s: string): s is ObjectType {
  return OBJECT_TYPES.includes(s);
}

export function isOid(s: string): boolean {
  return OID_RE.test(s);
}

/** The `<type> <len>\0` prefix that is hashed (and stored loose) before the data. */
export function objectHeader(type: ObjectType, length: number): Buffer {
  return Buffer.from(`${type} ${length}\0`, 'latin1');
}

export function hashObject(type: ObjectType, data: Buffer): string {
  return createHash('sha1').update(objectHeader(type, data.length)).update(data).digest('hex');
}

export interface TreeEntry {
  mode: string;
  name: string;
  oid: string;
}

const TREE_MODES = new Set(['40000', '100644', '100755', '120000', '160000']);

export function parseTree(data: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const nul = space < 0 ? -1 : data.indexOf(0, space + 1);
    if (space <= pos || nul < 0 || nul + 21 > data.length) {
      throw new GitFormatError(`tree is malformed at byte ${pos}`);
    }
    const bits = modeBits(data, pos, space);
    if (bits === null) throw new GitFormatError(`tree has a bad mode '${data.toString('latin1', pos, space)}' at byte ${pos}`);
    const mode = canonicalMode(bits);
    const name = data.toString('utf8', space + 1, nul);
    if (name.length === 0) throw new GitFormatError(`tree has an empty name at byte ${pos}`);
    entries.push({ mode, name, oid: data.toString('hex', nul + 1, nul + 21) });
    pos = nul + 21;
  }
  return entries;
}

/** A tree entry as a walk needs it: the mode (canonical, as in parseTree) and the oid, the name not decoded. */
export interface TreeLink {
  mode: string;
  oid: string;
}

/** parseTree without the names: walks over whole histories visit millions of entries. */
export function treeLinks(data: Buffer): TreeLink[] {
  const links: TreeLink[] = [];
  scanTreeLinks(data, (mode, at) => links.push({ mode, oid: data.toString('hex', at, at + 20) }));
  return links;
}

/**
 * treeLinks without allocating: calls `fn` with each entry's mode (canonical, as in parseTree)
 * and the offset of its raw 20-byte oid in `data`.
 */
export function scanTreeLinks(data: Buffer, fn: (mode: string, oidAt: number) => void): void {
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const nul = space < 0 ? -1 : data.indexOf(0, space + 1);
    if (space <= pos || nul <= space + 1 || nul + 21 > data.length) {
      throw new GitFormatError(`tree is malformed at byte ${pos}`);
    }
    const bits = modeBits(data, pos, space);
    if (bits === null) throw new GitFormatError(`tree has a bad mode at byte ${pos}`);
    fn(canonicalMode(bits), nul + 1);
    pos = nul + 21;
  }
}

/**
 * The octal digits of a tree entry's mode as git's get_mode reads them: any number of digits
 * into an unsigned int (zero-padded modes of old tools run long). Null when one is not octal.
 */
function modeBits(data: Buffer, start: number, end: number): number | null {
  let bits = 0;
  for (let m = start; m < end; m++) {
    const c = data[m]!;
    if (c < 0x30 || c > 0x37) return null;
    bits = ((bits << 3) + (c - 0x30)) >>> 0;
  }
  return bits;
}

/**
 * The mode as git's tree walker reads it (canon_mode): `040000` is a tree, `100664` a plain file,
 * so relics of old tools mean what they meant to git.
 */
function canonicalMode(bits: number): string {
  switch (bits & 0o170000) {
    case 0o100000:
      return bits & 0o100 ? '100755' : '100644';
    case 0o120000:
      return '120000';
    case 0o040000:
      return '40000';
    default:
      return '160000';
  }
}

/** Git sorts tree entries bytewise, with a tree named `x` sorting as `x/`. */
function treeSortKey(e: TreeEntry): Buffer {
  return Buffer.from(e.mode === '40000' ? e.name + '/' : e.name, 'utf8');
}

export function serializeTree(entries: readonly TreeEntry[]): Buffer {
  const normalized = entries.map((e) => {
    const mode = e.mode.replace(/^0+/, '');
    if (!TREE_MODES.has(mode)) throw new GitFormatError(`tree entry '${e.name}' has an unsupported mode '${e.mode}'`);
    if (!e.name || e.name.includes('/') || e.name.includes('\0')) {
      throw new GitFormatError(`tree entry name '${e.name}' is not a valid path component`);
    }
    if (!isOid(e.oid)) throw new GitFormatError(`tree entry '${e.name}' has a bad oid '${e.oid}'`);
    return { entry: { mode, name: e.name, oid: e.oid }, key: treeSortKey({ ...e, mode }) };
  });
  const names = new Set<string>();
  for (const { entry } of normalized) {
    if (names.has(entry.name)) throw new GitFormatError(`tree has a duplicate entry '${entry.name}'`);
    names.add(entry.name);
  }
  normalized.sort((a, b) => Buffer.compare(a.key, b.key));
  const parts: Buffer[] = [];
  for (const { entry } of normalized) {
    parts.push(Buffer.from(`${entry.mode} ${entry.name}\0`, 'utf8'), Buffer.from(entry.oid, 'hex'));
  }
  return Buffer.concat(parts);
}

/** Splits an object's header block (commit or tag) into `key value` lines; continuation lines are skipped. */
function headerLines(data: Buffer, what: string): Array<[string, string]> {
  const end = data.indexOf('\n\n');
  const text = data.toString('utf8', 0, end < 0 ? data.length : end);
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(' ')) continue; // continuation of a multi-line header (gpgsig, mergetag)
    const sp = line.indexOf(' ');
    if (sp <= 0) throw new GitFormatError(`${what} has a malformed header line '${line.slice(0, 60)}'`);
    out.push([line.slice(0, sp), line.slice(sp + 1)]);
  }
  return out;
}

export interface CommitInfo {
  tree: string;
  parents: string[];
  committerTime: number;
}

export function parseCommit(data: Buffer): CommitInfo {
  let tree: string | undefined;
  const parents: string[] = [];
  let committerTime: number | undefined;
  for (const [key, value] of headerLines(data, 'commit')) {
    if (key === 'tree') {
      if (tree !== undefined || !isOid(value)) throw new GitFormatError(`commit has a bad tree line '${value}'`);
      tree = value;
    } else if (key === 'parent') {
      if (!isOid(value)) throw new GitFormatError(`commit has a bad parent line '${value}'`);
      parents.push(value);
    } else if (key === 'committer') {
      const m = /> (-?\d+) [+-]\d{4}$/.exec(value);
      if (!m) throw new GitFormatError(`commit has a bad committer line '${value}'`);
      committerTime = Number(m[1]);
    }
  }
  if (tree === undefined) throw new GitFormatError('commit has no tree');
  if (committerTime === undefined) throw new GitFormatError('commit has no committer');
  return { tree, parents, committerTime };
}

/** The first line of a commit's message (its subject), '' when it has none. */
export function commitSubject(data: Buffer): string {
  const text = data.toString('utf8');
  const body = text.indexOf('\n\n');
  if (body < 0) return '';
  return (text.slice(body + 2).split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 200);
}

export interface CommitFields {
  tree: string;
  parents: string[];
  /** `Name <email> 1700000000 +0000` */
  author: string;
  committer: string;
  message: string;
}

export function serializeCommit(c: CommitFields): Buffer {
  for (const oid of [c.tree, ...c.parents]) {
    if (!isOid(oid)) throw new GitFormatError(`commit refers to a bad oid '${oid}'`);
  }
  for (const who of [c.author, c.committer]) {
    if (!/^[^<>\n]* <[^<>\n]*> \d+ [+-]\d{4}$/.test(who)) {
      throw new GitFormatError(`'${who}' is not a 'Name <email> time +zone' identity`);
    }
  }
  let head = `tree ${c.tree}\n`;
  for (const p of c.parents) head += `parent ${p}\n`;
  head += `author ${c.author}\ncommitter ${c.committer}\n\n`;
  return Buffer.from(head + c.message, 'utf8');
}

export interface TagInfo {
  object: string;
  type: ObjectType;
}

export function parseTag(data: Buffer): TagInfo {
  let object: string | undefined;
  let type: ObjectType | undefined;
  for (const [key, value] of headerLines(data, 'tag')) {
    if (key === 'object' && object === undefined) {
      if (!isOid(value)) throw new GitFormatError(`tag has a bad object line '${value}'`);
      object = value;
    } else if (key === 'type' && type === undefined) {
      if (!isObjectType(value)) throw new GitFormatError(`tag has a bad type '${value}'`);
      type = value;
    }
  }
  if (object === undefined || type === undefined) throw new GitFormatError('tag lacks an object or type line');
  return { object, type };
}
