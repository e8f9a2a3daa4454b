/**
 * The names git's fsck blocks because they attack whoever clones (CVE-2014-9390: `.git` as NTFS
 * or HFS+ read it; CVE-2018-11235 / CVE-2018-17456: `.gitmodules` names, symlinks and urls),
 * pushed by a deploy user with a raw client (stock git would send them too; a raw client shows
 * the server alone decides). Each is refused with git's message id, the ref stays, and the repo
 * passes native `git fsck --full --strict`; a sound `.gitmodules` with a submodule is accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertFsckClean, makeWorkRepo, serverRef, startInstance, type Instance } from './helpers/instance.ts';
import { literalGit, treeEntry } from './helpers/literal-objects.ts';
import { assertUnharmed, packObjects, pushCommand, rawExec, refs, reportStatus } from './helpers/raw-git.ts';

const USERS_YML = 'isolation: none\nusers:\n  alice: admin\n  ci: {deploy: [myapp]}\n';

describe('pushing names git fsck blocks', () => {
  let inst: Instance;
  let work: string;
  const { g, literally } = literalGit(() => work, () => inst.home);
  const entry = treeEntry;
  const ident = 'Mallory <m@example.com> 1700000000 +0000';

  /** A commit on top of the server's main whose tree holds `entries` besides README.md. */
  async function commitWith(entries: Buffer[]): Promise<{ old: string; next: string }> {
    const old = (await serverRef(inst, 'myapp', 'refs/heads/main'))!;
    const readme = await g(['rev-parse', 'HEAD:README.md']);
    const all = [entry('100644', 'README.md', readme), ...entries].sort((a, b) => sortKey(a).compare(sortKey(b)));
    const tree = await literally('tree', Buffer.concat(all));
    const next = await literally('commit', Buffer.from(`tree ${tree}\nparent ${old}\nauthor ${ident}\ncommitter ${ident}\n\nattack\n`));
    return { old, next };
  }
  const sortKey = (e: Buffer) => {
    const sp = e.indexOf(0x20);
    const name = e.subarray(sp + 1, e.indexOf(0));
    return e.subarray(0, sp).toString() === '40000' ? Buffer.concat([name, Buffer.from('/')]) : name;
  };

  /** A directory that would become the clone's own git dir: a config whose hook runs code. */
  const hostileGitDir = async () => {
    const config = await literally('blob', Buffer.from('[core]\n\tfsmonitor = touch /tmp/pwned\n'));
    return literally('tree', entry('100644', 'config', config));
  };

  before(async () => {
    inst = await startInstance({ slipwayYml: USERS_YML, repos: { myapp: 'branches:\n  main: {}\n' }, users: ['alice', 'ci'] });
    work = await makeWorkRepo(inst, 'work', 1);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => inst.stop());

  const attacks: Array<{ what: string; id: string; entries: () => Promise<Buffer[]> }> = [
    { what: "a tree named '.git ' (NTFS drops the trailing space)", id: 'hasDotgit', entries: async () => [entry('40000', '.git ', await hostileGitDir())] },
    { what: 'a tree named git~1 (the NTFS short name of .git)', id: 'hasDotgit', entries: async () => [entry('40000', 'git~1', await hostileGitDir())] },
    { what: 'a tree named .g<U+200C>it (HFS+ ignores the joiner)', id: 'hasDotgit', entries: async () => [entry('40000', '.g\u200cit', await hostileGitDir())] },
    { what: 'a .gitmodules that is a symlink', id: 'gitmodulesSymlink', entries: async () => [entry('120000', '.gitmodules', await literally('blob', Buffer.from('/etc/passwd')))] },
    {
      what: "a .gitmodules whose url starts with '-' (CVE-2018-17456)",
      id: 'gitmodulesUrl',
      entries: async () => [entry('100644', '.gitmodules', await literally('blob', Buffer.from('[submodule "lib"]\n\tpath = lib\n\turl = -u./payload\n')))],
    },
  ];

  for (const a of attacks) {
    test(`${a.what} is refused with ${a.id}, the ref stays and the repo passes git fsck`, async () => {
      const before = await refs(inst);
      const { old, next } = await commitWith(await a.entries());
      const pack = packObjects(inst, work, [next, `^${old}`]);
      const r = await rawExec(inst, "git-receive-pack 'myapp'", Buffer.concat([pushCommand(old, next, 'refs/heads/main', 'report-status agent=attacker/1'), pack]), 'ci');
      const { lines } = reportStatus(r.stdout, false);
      assert.equal(lines[0], 'unpack ok');
      assert.match(lines[1] ?? '', new RegExp(`^ng refs/heads/main .*is malformed: ${a.id}: `), lines.join('\n'));
      await assertUnharmed(inst, before);
      const objects = await inst.serverGit('myapp', ['cat-file', '-e', next]);
      assert.notEqual(objects.code, 0, 'the refused commit never entered the repo');
    });
  }

  test('a sound .gitmodules with a submodule, pushed by stock git, is accepted and cloned back', async () => {
    const gitmodules = await literally('blob', Buffer.from('[submodule "lib"]\n\tpath = lib\n\turl = https://example.com/lib.git\n'));
    const { next } = await commitWith([entry('100644', '.gitmodules', gitmodules), entry('160000', 'lib', 'a'.repeat(40))]);
    await g(['update-ref', 'refs/heads/main', next]);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work, user: 'ci' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), next);
    await assertFsckClean(inst, 'myapp');
  });
});
