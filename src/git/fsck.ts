import type { ObjectType } from './objects.ts';
import { printable } from '../lib/text.ts';

/**
 * The checks `git fsck --strict` (and `receive.fsckObjects`) makes of the objects a push brings,
 * so that nothing a client sends can make the server's repo fail native fsck. Blobs are opaque.
 * Returns what is wrong, or null.
 */
export function fsckObject(type: ObjectType, data: Buffer): string | null {
  switch (type) {
    case 'commit':
      return checkCommit(data);
    case 'tree':
      return checkTree(data);
    case 'tag':
      return checkTag(data);
    case 'blob':
      return null;
  }
}

const OID = '[0-9a-f]{40}';
// git's fsck_ident: `Name <email> <seconds> <+|-HHMM>`; no '<' or '>' in the name, no leading zero in the date.
const IDENT = '[^<>\\n]* <[^<>\\n]*> (?:0|[1-9][0-9]{0,18}) [+-][0-9]{4}';

function header(data: Buffer): string | null {
  const end = data.indexOf('\n\n');
  if (end < 0) return null;
  return data.toString('latin1', 0, end + 1);
}

function checkCommit(data: Buffer): string | null {
  const h = header(data);
  if (h === null) return 'commit has no blank line after its header';
  const re = new RegExp(`^tree ${OID}\\n(?:parent ${OID}\\n)*author ${IDENT}\\ncommitter ${IDENT}\\n`);
  return re.test(h) ? null : 'commit header is not tree, parents, author, committer in git\'s format';
}

function checkTag(data: Buffer): string | null {
  const h = header(data);
  if (h === null) return 'tag has no blank line after its header';
  const re = new RegExp(`^object ${OID}\\ntype (?:commit|tree|blob|tag)\\ntag [^\\n]+\\n(?:tagger ${IDENT}\\n)?`);
  return re.test(h) ? null : "tag header is not object, type, tag, tagger in git's format";
}

/** Native fsck --strict only warns about odd modes (100664 from old gits); zero padding (040000) fails it. */
const MODE = /^[1-7][0-7]{0,6}$/;

function checkTree(data: Buffer): string | null {
  let pos = 0;
  let prev: { name: Buffer; isTree: boolean } | null = null;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const nul = sp < 0 ? -1 : data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 21 > data.length) return 'tree entry is truncated';
    const mode = data.toString('latin1', pos, sp);
    const name = data.subarray(sp + 1, nul);
    const text = name.toString('latin1');
    if (!MODE.test(mode)) return `tree entry '${printable(text, 80)}' has a malformed mode '${printable(mode, 80)}'`;
    if (text === '' || text === '.' || text === '..' || text.includes('/') || text.toLowerCase() === '.git') {
      return `tree has an invalid entry '${printable(text, 80)}'`;
    }
    const cur = { name, isTree: mode === '40000' };
    if (prev) {
      const cmp = compareEntries(prev, cur);
      if (cmp === 0) return `tree has a duplicate entry '${printable(text, 80)}'`;
      if (cmp > 0) return `tree entries are not sorted at '${printable(text, 80)}'`;
    }
    prev = cur;
    pos = nul + 21;
  }
  return null;
}

/** git's base_name_compare: a tree sorts as if its name ended with '/'; equal names are duplicates. */
function compareEntries(a: { name: Buffer; isTree: boolean }, b: { name: Buffer; isTree: boolean }): number {
  if (a.name.equals(b.name)) return 0;
  const len = Math.min(a.name.length, b.name.length);
  const c = a.name.subarray(0, len).compare(b.name.subarray(0, len));
  if (c !== 0) return c;
  const next = (e: { name: Buffer; isTree: boolean }) => (e.name.length > len ? e.name[len]! : e.isTree ? 0x2f : 0);
  return next(a) - next(b);
}

