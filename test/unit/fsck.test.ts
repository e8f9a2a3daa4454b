import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fsckObject, fsckSpecialBlob, type FsckReport } from '../../src/git/fsck.ts';
import { hashObject } from '../../src/git/objects.ts';
import type { ObjectType } from '../../src/git/objects.ts';
import { git, gitText, makeRepo, removeDir, tempDir } from './git-fixtures.ts';

const root = tempDir('fsck');
after(() => removeDir(root));
const work = join(root, 'work');
mkdirSync(work);
const commits = makeRepo(work, 3, 10);

const B = 'b'.repeat(40);
const blob = gitText(work, ['rev-parse', `${commits[0]}:run.sh`]);
const tree = gitText(work, ['rev-parse', `${commits[0]}^{tree}`]);
const ident = 'Ada <ada@example.com> 1700000000 +0000';
const entry = (mode: string, name: string, oid = blob) => Buffer.concat([Buffer.from(`${mode} ${name}\0`, 'utf8'), Buffer.from(oid, 'hex')]);

/** Native git's verdict with its default severities: the message ids of its errors and of its warnings. */
function nativeVerdict(type: ObjectType, data: Buffer, blobs: Buffer[] = []): { errors: string[]; warnings: string[] } {
  for (const b of blobs) gitText(work, ['hash-object', '-w', '--stdin'], b);
  const oid = gitText(work, ['hash-object', '-w', '--literally', '-t', type, '--stdin'], data);
  try {
    const r = spawnSync('git', ['fsck', '--no-dangling', oid], { cwd: work, encoding: 'utf8' });
    const ids = (kind: string) => [...new Set([...r.stderr.matchAll(new RegExp(`${kind} in \\w+ [0-9a-f]+: (\\w+):`, 'g'))].map((m) => m[1]!))];
    const errors = ids('error');
    if (r.status !== 0 && errors.length === 0) errors.push(`fsck exit ${r.status}: ${r.stderr.trim()}`);
    return { errors, warnings: ids('warning') };
  } finally {
    git(work, ['prune', '--expire=now']);
  }
}

/** slipway's verdict: the object, then the blobs its tree names `.gitmodules` / `.gitattributes`, as a push checks them. */
function ourVerdict(type: ObjectType, data: Buffer, blobs: Buffer[]): FsckReport {
  const report = fsckObject(type, data);
  if (report.error) return report;
  const warnings = [...report.warnings];
  for (const s of report.special) {
    const blob = blobs.find((b) => hashObject('blob', b) === s.oid);
    const r = fsckSpecialBlob(s.kind, blob ? { type: 'blob', data: blob } : s.oid === tree ? { type: 'tree', data: git(work, ['cat-file', 'tree', tree]) } : null);
    if (r.error) return r;
    warnings.push(...r.warnings.filter((w) => !warnings.includes(w)));
  }
  return { error: null, warnings, special: [] };
}

type Verdict = 'accepted' | 'refused' | 'refused here, though git only warns';
interface Case {
  what: string;
  type: ObjectType;
  data: Buffer;
  verdict: Verdict;
  /** the message id of the refusal */
  id?: string;
  warnings?: string[];
  /** blobs the tree refers to (written first, as a push brings them) */
  blobs?: Buffer[];
}
const named = (name: string, mode = '100644', oid = blob) => entry(mode, name, oid);
const gitmodules = (text: string, name = '.gitmodules') => ({ type: 'tree' as const, data: named(name, '100644', hashObject('blob', Buffer.from(text))), blobs: [Buffer.from(text)] });
const gitattributes = (text: string) => ({ type: 'tree' as const, data: named('.gitattributes', '100644', hashObject('blob', Buffer.from(text))), blobs: [Buffer.from(text)] });
const submodule = (key: string, value: string, name = 'lib') => `[submodule "${name}"]\n\tpath = lib\n\t${key} = ${value}\n`;

const cases: Case[] = [
  { what: 'a real commit', type: 'commit', data: git(work, ['cat-file', 'commit', commits[1]!]), verdict: 'accepted' },
  { what: 'a real tree', type: 'tree', data: git(work, ['cat-file', 'tree', tree]), verdict: 'accepted' },
  { what: 'a commit with extra headers', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\nencoding latin1\n\nmsg\n`), verdict: 'accepted' },
  { what: 'a commit with no message and no blank line', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\n`), verdict: 'accepted' },
  { what: 'a commit with a NUL in its message', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}\n\nm\0sg\n`), verdict: 'accepted', warnings: ['nulInCommit'] },
  { what: 'a commit with a NUL in its header', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\0\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'nulInHeader' },
  { what: 'a commit with an unterminated header', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\ncommitter ${ident}`), verdict: 'refused', id: 'unterminatedHeader' },
  { what: 'a commit without tree', type: 'commit', data: Buffer.from(`author ${ident}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingTree' },
  { what: 'a commit with a short tree id', type: 'commit', data: Buffer.from(`tree ${tree.slice(1)}\nauthor ${ident}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badTreeSha1' },
  { what: 'a commit with a bad parent', type: 'commit', data: Buffer.from(`tree ${tree}\nparent xyz\nauthor ${ident}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badParentSha1' },
  { what: 'a commit without author', type: 'commit', data: Buffer.from(`tree ${tree}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingAuthor' },
  { what: 'a commit with two authors', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\nauthor ${ident}\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'multipleAuthors' },
  { what: 'a commit without committer', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingCommitter' },
  { what: 'a commit whose date has a leading zero', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 01700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'zeroPaddedDate' },
  { what: 'a commit whose date overflows 64 bits', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 18446744073709551617 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badDateOverflow' },
  { what: 'a commit whose date overflows time_t', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 9223372036854775808 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badDateOverflow' },
  { what: 'a commit dated at the end of time_t', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 9223372036854775807 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'accepted' },
  { what: 'a commit with extra spaces before the date', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b>   1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'accepted' },
  { what: 'a commit with a date that is not a number', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> soon +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badDate' },
  { what: 'a commit with a bad time zone', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b> 1700000000 +00\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badTimezone' },
  { what: 'a commit with > in the name', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor A>da <a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badName' },
  { what: 'a commit with < in the email', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a<b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'badEmail' },
  { what: 'a commit without email', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingEmail' },
  { what: 'a commit with only an email', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor <a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingNameBeforeEmail' },
  { what: 'a commit with no space before the email', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada<a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingSpaceBeforeEmail' },
  { what: 'a commit with no space before the date', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor Ada <a@b>1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'refused', id: 'missingSpaceBeforeDate' },
  { what: 'a commit with an empty name', type: 'commit', data: Buffer.from(`tree ${tree}\nauthor  <a@b> 1700000000 +0000\ncommitter ${ident}\n\nmsg\n`), verdict: 'accepted' },
  { what: 'a tree entry named .', type: 'tree', data: named('.'), verdict: 'refused here, though git only warns', id: 'hasDot' },
  { what: 'a tree entry named ..', type: 'tree', data: named('..'), verdict: 'refused here, though git only warns', id: 'hasDotdot' },
  { what: 'a tree entry with a slash', type: 'tree', data: named('a/b'), verdict: 'refused here, though git only warns', id: 'fullPathname' },
  { what: 'a tree entry named .GIT', type: 'tree', data: named('.GIT'), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: "a tree entry named '.git ' (NTFS drops the space)", type: 'tree', data: named('.git '), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: "a tree entry named '.git. .' (NTFS drops dots and spaces)", type: 'tree', data: named('.git. .'), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: "a tree entry named '.git::$INDEX_ALLOCATION' (an NTFS stream)", type: 'tree', data: named('.git::$INDEX_ALLOCATION', '40000', tree), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry named git~1 (the NTFS short name)', type: 'tree', data: named('git~1', '40000', tree), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry named GIT~1.', type: 'tree', data: named('GIT~1.'), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry named a\\.git (NTFS reads the backslash as a separator)', type: 'tree', data: named('a\\.git'), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry .g<U+200C>it (HFS+ ignores the joiner)', type: 'tree', data: named('.g\u200cit'), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry <U+FEFF>.GiT<U+200E> (HFS+ ignores both and folds case)', type: 'tree', data: named('\ufeff.GiT\u200e'), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry .git<U+206F>', type: 'tree', data: named('.git\u206f', '40000', tree), verdict: 'refused here, though git only warns', id: 'hasDotgit' },
  { what: 'a tree entry .g<U+200B>it (a zero width space HFS+ keeps)', type: 'tree', data: named('.g\u200bit'), verdict: 'accepted' },
  { what: 'tree entries .git-x, .gitx, gitx~1, git~2', type: 'tree', data: Buffer.concat([named('.git-x'), named('.gitx'), named('gitx~1'), named('git~2')]), verdict: 'accepted' },
  { what: 'a tree entry with an empty name', type: 'tree', data: named(''), verdict: 'refused', id: 'badTree' },
  { what: 'a truncated tree', type: 'tree', data: named('a').subarray(0, 10), verdict: 'refused', id: 'badTree' },
  { what: 'a group-writable file mode (old gits wrote it)', type: 'tree', data: named('a', '100664'), verdict: 'accepted' },
  { what: 'an unusual file mode', type: 'tree', data: named('a', '100600'), verdict: 'accepted', warnings: ['badFilemode'] },
  { what: 'a mode past 16 bits (git keeps the low 16)', type: 'tree', data: named('a', '1100644'), verdict: 'accepted' },
  { what: 'a zero-padded file mode', type: 'tree', data: named('a', '0100644'), verdict: 'accepted', warnings: ['zeroPaddedFilemode'] },
  { what: 'a zero-padded tree mode (040000, as in pallets/flask)', type: 'tree', data: named('a', '040000', tree), verdict: 'accepted', warnings: ['zeroPaddedFilemode'] },
  { what: 'a zero-padded tree sorted as a tree', type: 'tree', data: Buffer.concat([named('a.c'), named('a', '040000', tree)]), verdict: 'accepted', warnings: ['zeroPaddedFilemode'] },
  { what: 'a mode that is not octal', type: 'tree', data: named('a', '10064x'), verdict: 'refused', id: 'badTree' },
  { what: 'unsorted entries', type: 'tree', data: Buffer.concat([named('b'), named('a')]), verdict: 'refused', id: 'treeNotSorted' },
  { what: 'duplicate entries', type: 'tree', data: Buffer.concat([named('a'), named('a')]), verdict: 'refused', id: 'duplicateEntries' },
  { what: 'a file and a tree of one name, apart (foo, foo.bar, foo/)', type: 'tree', data: Buffer.concat([named('foo'), named('foo.bar'), named('foo', '40000', tree)]), verdict: 'refused', id: 'duplicateEntries' },
  { what: 'a tree sorted as a/ after a.c', type: 'tree', data: Buffer.concat([named('a.c'), named('a', '40000', tree)]), verdict: 'accepted' },
  { what: 'a .gitmodules that is a symlink', type: 'tree', data: named('.gitmodules', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'a .GITMODULES. that is a symlink (NTFS)', type: 'tree', data: named('.GITMODULES.', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'a gitmod~1 that is a symlink (NTFS short name)', type: 'tree', data: named('gitmod~1', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'a GI7EBA~3 that is a symlink (NTFS fall-back short name)', type: 'tree', data: named('GI7EBA~3', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'a .gitmodul<U+200D>es that is a symlink (HFS+)', type: 'tree', data: named('.gitmodul\u200des', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'an x\\.gitmodules that is a symlink (NTFS backslash)', type: 'tree', data: named('x\\.gitmodules', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'a ~1234567 symlink (a fall-back short name of every dot file)', type: 'tree', data: named('~1234567', '120000'), verdict: 'refused', id: 'gitmodulesSymlink' },
  { what: 'symlinked .gitattributes, .gitignore and .mailmap', type: 'tree', data: Buffer.concat([named('.gitattributes', '120000'), named('.gitignore', '120000'), named('.mailmap', '120000')]), verdict: 'accepted', warnings: ['gitattributesSymlink', 'gitignoreSymlink', 'mailmapSymlink'] },
  { what: 'a .gitmodules that is a tree', type: 'tree', data: named('.gitmodules', '40000', tree), verdict: 'refused', id: 'gitmodulesBlob' },
  { what: 'a sound .gitmodules', ...gitmodules(submodule('url', 'https://example.com/lib.git')), verdict: 'accepted' },
  { what: 'a .gitmodules with relative and scp-style urls', ...gitmodules(submodule('url', '../lib.git') + submodule('url', 'git@example.com:lib.git', 'b') + submodule('url', './-lib', 'c')), verdict: 'accepted' },
  { what: 'a submodule url starting with - (CVE-2018-17456)', ...gitmodules(submodule('url', '-u./payload')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a quoted submodule url starting with -', ...gitmodules(submodule('url', '"-oProxyCommand=touch x"')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a submodule url under an NTFS short name gitmod~1', ...gitmodules(submodule('url', '-x'), 'GITMOD~1'), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a relative url that climbs out of the host (CVE-2020-11008)', ...gitmodules(submodule('url', '../../../:example.com/x')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'an https url without host', ...gitmodules(submodule('url', 'https:///example.com/x')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'an https url with an encoded newline', ...gitmodules(submodule('url', 'https://example.com%0a/x')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a git:// url with an encoded newline', ...gitmodules(submodule('url', 'git://example.com/x%0ay')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'an http:: url without a scheme behind it', ...gitmodules(submodule('url', 'http::example.com/x')), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a submodule name with .. (CVE-2018-11235)', ...gitmodules(submodule('url', 'https://example.com/x', '../../modules/evil')), verdict: 'refused', id: 'gitmodulesName' },
  { what: 'a submodule name with a backslashed ..', ...gitmodules(submodule('url', 'https://example.com/x', 'a\\\\..')), verdict: 'refused', id: 'gitmodulesName' },
  { what: 'a submodule name starting with .. but no component ..', ...gitmodules(submodule('url', 'https://example.com/x', '..a/b..')), verdict: 'accepted' },
  { what: 'an old-style [submodule.x] section with a bad url', ...gitmodules('[submodule.x]\nurl = -x\n'), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a submodule path starting with -', ...gitmodules(submodule('path', '-x')), verdict: 'refused', id: 'gitmodulesPath' },
  { what: 'a submodule update command', ...gitmodules(submodule('update', '!rm -rf ~')), verdict: 'refused', id: 'gitmodulesUpdate' },
  { what: 'a submodule update strategy', ...gitmodules(submodule('update', 'rebase')), verdict: 'accepted' },
  { what: 'a .gitmodules with comments, continuations and a bare key', ...gitmodules('# c\n[submodule "a"] ; c\n\turl = https://example.com/\\\nlib.git # c\n\tshallow\n'), verdict: 'accepted' },
  { what: 'a .gitmodules with a BOM (git reads a blob\'s BOM as a syntax error)', ...gitmodules('\ufeff[submodule "a"]\n\turl = https://example.com/x\n'), verdict: 'accepted', warnings: ['gitmodulesParse'] },
  { what: 'a bad url after a 0xff byte (git reads it as the end)', type: 'tree', data: named('.gitmodules', '100644', hashObject('blob', Buffer.from('[submodule "a"]\n\turl = x\xff\n\turl = -x\n', 'latin1'))), blobs: [Buffer.from('[submodule "a"]\n\turl = x\xff\n\turl = -x\n', 'latin1')], verdict: 'accepted' },
  { what: 'a bad url after a high byte', type: 'tree', data: named('.gitmodules', '100644', hashObject('blob', Buffer.from('[submodule "a"]\n\turl = x\xe9\n\turl = -x\n', 'latin1'))), blobs: [Buffer.from('[submodule "a"]\n\turl = x\xe9\n\turl = -x\n', 'latin1')], verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a .gitmodules that does not parse', ...gitmodules('[submodule "a"]\n\turl = https://example.com/x\n[broken\n\turl = -x\n'), verdict: 'accepted', warnings: ['gitmodulesParse'] },
  { what: 'a bad url before a syntax error', ...gitmodules('[submodule "a"]\n\turl = -x\n[broken\n'), verdict: 'refused', id: 'gitmodulesUrl' },
  { what: 'a bad url in another section', ...gitmodules('[remote "submodule"]\n\turl = -x\n[submodule]\n\turl = -x\n'), verdict: 'accepted' },
  { what: 'a .gitattributes with a 3000-byte line', ...gitattributes(`*.txt ${'x'.repeat(3000)}\n`), verdict: 'refused', id: 'gitattributesLineLength' },
  { what: 'a .gitattributes with ordinary lines', ...gitattributes('*.sh text eol=lf\n'), verdict: 'accepted' },
  { what: 'a tag', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\ntagger ${ident}\n\nrelease\n`), verdict: 'accepted' },
  { what: 'a tag without a tagger (early git)', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\n\nrelease\n`), verdict: 'accepted', warnings: ['missingTaggerEntry'] },
  { what: 'a tag named v1..2', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1..2\ntagger ${ident}\n\nrelease\n`), verdict: 'accepted', warnings: ['badTagName'] },
  { what: 'a tag with a malformed tagger', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntag v1\ntagger Ada 1700000000 +0000\n\nrelease\n`), verdict: 'refused', id: 'missingEmail' },
  { what: 'a tag without tag line', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntype commit\ntagger ${ident}\n\nrelease\n`), verdict: 'refused', id: 'missingTagEntry' },
  { what: 'a tag without object line', type: 'tag', data: Buffer.from(`type commit\ntag v1\ntagger ${ident}\n\nrelease\n`), verdict: 'refused', id: 'missingObject' },
  { what: 'a tag without type line', type: 'tag', data: Buffer.from(`object ${commits[0]}\ntag v1\ntagger ${ident}\n\nrelease\n`), verdict: 'refused', id: 'missingTypeEntry' },
  { what: 'a tag of an impossible type', type: 'tag', data: Buffer.from(`object ${B}\ntype thing\ntag v1\n\nx\n`), verdict: 'refused', id: 'badType' },
];

for (const c of cases) {
  const verdict = `${c.verdict}${c.id ? ` (${c.id})` : ''}${c.warnings ? ` (${c.warnings.join(', ')})` : ''}`;
  test(`${c.what} is ${verdict}, as native git fsck decides with its default severities`, () => {
    const native = nativeVerdict(c.type, c.data, c.blobs);
    const ours = ourVerdict(c.type, c.data, c.blobs ?? []);
    if (c.verdict === 'refused') {
      // Some objects native git cannot even parse: it refuses them without a message id.
      const unparsable = native.errors.length > 0 && native.errors.every((e) => e.startsWith('fsck exit') && e.includes('could not be parsed'));
      assert.ok(native.errors.includes(c.id!) || unparsable, `the oracle disagrees with the case: ${JSON.stringify(native)}`);
      assert.match(ours.error ?? '', new RegExp(`^${c.id}: `));
      return;
    }
    assert.deepEqual(native.errors, [], `the oracle refuses it: ${JSON.stringify(native)}`);
    if (c.verdict === 'refused here, though git only warns') {
      assert.ok(native.warnings.includes(c.id!), `git warns about it: ${JSON.stringify(native)}`);
      assert.match(ours.error ?? '', new RegExp(`^${c.id}: `));
      return;
    }
    assert.equal(ours.error, null);
    assert.deepEqual(ours.warnings.sort(), (c.warnings ?? []).sort());
    assert.deepEqual(native.warnings.sort(), (c.warnings ?? []).sort(), 'git warns about what slipway warns about');
  });
}
