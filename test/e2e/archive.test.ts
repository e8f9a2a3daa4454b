/**
 * `git archive --remote` through real git and OpenSSH: the archive holds what native `git archive`
 * of the same tree-ish holds (names, modes, symlinks, contents), in tar, tar.gz and zip (at the
 * compression levels asked for), with a prefix, a subdirectory and paths; what git refuses remotely (object ids, unknown options) is
 * refused with its reason, and only users who may read the repo get an archive.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gitEnv, requireTools, run, startInstance, type Instance } from './helpers/instance.ts';
import { FLUSH, parsePkts, pkt, rawExec } from './helpers/raw-git.ts';

requireTools({ unzip: 'unzip', zipinfo: 'unzip' });

const USERS_YML = 'users:\n  alice: admin\n  reader: {read: [myapp]}\n  other: {read: [nothing]}\n';

type Kind = 'tar' | 'tgz' | 'zip';

describe('git archive --remote', () => {
  let inst: Instance;
  let work: string;
  const local = async (cwd: string, args: string[]) => {
    const r = await run('git', args, { cwd, env: gitEnv(inst.home) });
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  before(async () => {
    inst = await startInstance({ slipwayYml: USERS_YML, repos: { myapp: 'branches:\n  main: {}\n', nothing: 'branches:\n  main: {}\n' }, users: ['alice', 'reader', 'other'] });
    work = path.join(inst.root, 'work');
    fs.mkdirSync(path.join(work, 'docs', 'deep'), { recursive: true });
    await local(work, ['init', '-q', '-b', 'main']);
    fs.writeFileSync(path.join(work, 'README.md'), '# app\n');
    fs.writeFileSync(path.join(work, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    fs.writeFileSync(path.join(work, 'docs', 'guide.md'), 'guide\n'.repeat(1000));
    const long = 'a-rather-long-directory-name-for-the-ustar-header/'.repeat(3);
    fs.mkdirSync(path.join(work, long), { recursive: true });
    fs.writeFileSync(path.join(work, long, 'file-with-a-long-name.txt'), 'long\n');
    fs.writeFileSync(path.join(work, 'docs', 'deep', 'ünïcode.txt'), 'ü\n');
    fs.symlinkSync('docs/guide.md', path.join(work, 'link'));
    fs.writeFileSync(path.join(work, 'data.bin'), Buffer.from([0, 1, 2, 0, 255, 0]));
    fs.writeFileSync(path.join(work, 'empty.txt'), '');
    await local(work, ['add', '-A']);
    await local(work, ['commit', '-q', '-m', 'first']);
    await local(work, ['tag', '-a', '-m', 'release', 'v1']);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main', 'v1'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => inst.stop());

  /** The archive extracted (tar, tar.gz or zip): every path with its type, mode and content. */
  const contents = (archive: Buffer, kind: Kind) => {
    const dir = fs.mkdtempSync(path.join(inst.root, 'x-'));
    if (kind === 'zip') {
      const file = `${dir}.zip`;
      fs.writeFileSync(file, archive);
      const u = spawnSync('unzip', ['-q', file, '-d', dir]);
      assert.equal(u.status, 0, u.stderr.toString());
    } else {
      const t = spawnSync('tar', [kind === 'tgz' ? '-xzf' : '-xf', '-', '-C', dir], { input: archive });
      assert.equal(t.status, 0, t.stderr.toString());
    }
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(dir, rel)).sort()) {
        const p = path.join(rel, e);
        const st = fs.lstatSync(path.join(dir, p));
        if (st.isDirectory()) {
          out.push(`${p}/ ${(st.mode & 0o777).toString(8)}`);
          walk(p);
        } else if (st.isSymbolicLink()) out.push(`${p} -> ${fs.readlinkSync(path.join(dir, p))}`);
        else out.push(`${p} ${(st.mode & 0o777).toString(8)} ${fs.readFileSync(path.join(dir, p), 'utf8').length}`);
      }
    };
    walk('');
    return out;
  };
  /**
   * `tar -tv`, or for a zip `zipinfo`'s entry lines (permissions, made by, size, text/binary,
   * method, date, name) and `unzip -z`'s comment. Not the compressed sizes: those depend on the
   * zlib build.
   */
  const listing = (archive: Buffer, kind: Kind) => {
    if (kind === 'zip') {
      const file = path.join(fs.mkdtempSync(path.join(inst.root, 'l-')), 'a.zip');
      fs.writeFileSync(file, archive);
      const info = spawnSync('zipinfo', [file]);
      assert.equal(info.status, 0, info.stderr.toString());
      const comment = spawnSync('unzip', ['-z', file]).stdout.toString().split('\n').slice(1).join('\n');
      return [...info.stdout.toString().trimEnd().split('\n').slice(2, -1), comment].join('\n');
    }
    const t = spawnSync('tar', [kind === 'tgz' ? '-tvzf' : '-tvf', '-'], { input: archive });
    assert.equal(t.status, 0, t.stderr.toString());
    return t.stdout.toString();
  };

  /** `git archive --remote` as `user`: its exit status, stderr and the archive's bytes. */
  const remote = (args: string[], user = 'alice') =>
    new Promise<{ code: number | null; stderr: string; bytes: Buffer }>((resolve, reject) => {
      const p = spawn('git', ['archive', `--remote=${inst.url}/myapp`, ...args], { cwd: work, env: gitEnv(inst.home, { GIT_SSH_COMMAND: inst.sshCommand(user) }) });
      const out: Buffer[] = [];
      let stderr = '';
      const timer = setTimeout(() => p.kill(), 60_000);
      p.stdout.on('data', (d: Buffer) => out.push(d));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr, bytes: Buffer.concat(out) });
      });
    });

  for (const [what, args, kind] of [
    ['a branch as tar', ['main'], 'tar'],
    ['a tag as tar.gz', ['--format=tar.gz', 'v1'], 'tgz'],
    ['HEAD with a prefix', ['--prefix=app-1.0/', 'HEAD'], 'tar'],
    ['a subdirectory (ref:path)', ['main:docs'], 'tar'],
    ['some paths', ['main', 'docs/deep', 'run.sh'], 'tar'],
    ['a branch as zip', ['--format=zip', 'main'], 'zip'],
    ['a tag as zip with a prefix, stored (-0)', ['--format=zip', '-0', '--prefix=app-1.0/', 'v1'], 'zip'],
    ['some paths as zip at -9', ['--format=zip', '-9', 'main', 'docs', 'link', 'run.sh'], 'zip'],
  ] as const) {
    test(`${what}: the same files, modes and contents as native git archive`, async () => {
      const r = await remote([...args]);
      assert.equal(r.code, 0, r.stderr);
      const native = spawnSync('git', ['archive', ...args], { cwd: work, env: gitEnv(inst.home) });
      assert.equal(native.status, 0, native.stderr.toString());
      assert.deepEqual(contents(r.bytes, kind), contents(native.stdout, kind));
      assert.equal(listing(r.bytes, kind), listing(native.stdout, kind), 'tar -tv / zipinfo show the same owners, modes, sizes, methods and dates');
    });
  }

  test('a reader gets an archive; a user who may not read the repo is refused as for a clone', async () => {
    assert.equal((await remote(['main'], 'reader')).code, 0);
    const r = await remote(['main'], 'other');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /remote error: .*myapp/);
  });

  test('an option git keeps local (--exec, sent by a raw client) is refused with NACK', async () => {
    const r = await rawExec(inst, "git-upload-archive 'myapp'", Buffer.concat([pkt('argument --exec=touch /tmp/x\n'), pkt('argument main\n'), FLUSH]));
    assert.match(parsePkts(r.stdout)[0] ?? '', /^NACK unknown option '--exec=touch \/tmp\/x'/);
  });

  for (const [what, args, message] of [
    ['an object id', ['0123456789abcdef0123456789abcdef01234567'], /no such ref: 0123456789abcdef/],
    ['an unknown format', ['--format=rar', 'main'], /Unknown archive format 'rar'/],
    ['a path that matches nothing', ['main', 'nope'], /pathspec 'nope' did not match any files/],
  ] as const) {
    test(`${what} is refused with git's reason`, async () => {
      const r = await remote([...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
    });
  }
});
