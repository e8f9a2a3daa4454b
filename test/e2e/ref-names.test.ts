/**
 * The ref-name attack, made as it was found: a user with only `deploy: [myapp]` speaks
 * receive-pack with the raw ssh2 client (stock git refuses to send such names) and asks for refs
 * whose names climb out of the repo or break git's rules. Every one is refused with
 * `ng <ref> invalid ref name`, nothing is written anywhere, and the repo stays fsck-clean.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeWorkRepo, serverRef, startInstance, tempDir, type Instance } from './helpers/instance.ts';
import { assertUnharmed, FLUSH, pkt, rawExec, refs, reportStatus } from './helpers/raw-git.ts';

const ZERO = '0'.repeat(40);

/** A valid pack holding no objects: what git sends when a push only creates refs to objects the server has. */
function emptyPack(): Buffer {
  const header = Buffer.from([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2, 0, 0, 0, 0]);
  return Buffer.concat([header, crypto.createHash('sha1').update(header).digest()]);
}

/** One receive-pack request creating each of `refNames` at `commit`. */
function createRefs(refNames: string[], commit: string, caps = 'report-status side-band-64k'): Buffer {
  const lines = refNames.map((ref, i) => pkt(Buffer.from(`${ZERO} ${commit} ${ref}${i === 0 ? `\0${caps}` : ''}\n`, 'latin1')));
  return Buffer.concat([...lines, FLUSH, emptyPack()]);
}

/** Every file below `dir`, relative. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out.sort();
}

describe('ref names from a push are checked before they touch the disk', () => {
  let inst: Instance;
  let main: string;
  const victim = tempDir('slipway-victim-');

  before(async () => {
    inst = await startInstance({ slipwayYml: 'users:\n  admin: admin\n  ci: {deploy: [myapp]}\n', users: ['admin', 'ci'] });
    const work = await makeWorkRepo(inst, 'work', 1);
    const r = await inst.git(['push', `${inst.url}/myapp`, 'main'], { cwd: work, user: 'ci' });
    assert.equal(r.code, 0, r.stderr);
    main = (await serverRef(inst, 'myapp', 'refs/heads/main'))!;
  });
  after(() => inst.stop());

  const up = '../'.repeat(20);
  // Each would have written a file somewhere, or a ref git itself refuses.
  const FORBIDDEN = () => [
    `refs/tags/${up}${victim.slice(1)}/escaped-tag`,
    `refs/heads/${up}${victim.slice(1)}/escaped-branch`,
    'refs/tags/../../config',
    'refs/tags/../../hooks/post-update',
    'refs/tags/a..b',
    'refs/tags/at@{1}',
    'refs/tags/.hidden',
    'refs/tags/x.lock',
    'refs/tags/trailing.',
    'refs/tags/trailing/',
    'refs/tags//double',
    'refs//tags/double',
    'refs/tags/sp ace',
    'refs/tags/ctl\x01char',
    'refs/tags/esc\x1b[31m',
    'refs/tags/tilde~1',
    'refs/tags/caret^',
    'refs/tags/co:lon',
    'refs/tags/what?',
    'refs/tags/st*r',
    'refs/tags/br[acket',
    'refs/tags/back\\slash',
    `refs/tags/${'x'.repeat(300)}`,
    'refs/onelevel',
    '@',
    'HEAD',
    `/${victim.slice(1)}/absolute`,
  ];

  test('every forbidden name gets "ng <ref> invalid ref name" and nothing is written anywhere', async () => {
    const before = await refs(inst);
    const gitFiles = filesBelow(inst.gitDir('myapp'));
    const names = FORBIDDEN();
    const r = await rawExec(inst, "git-receive-pack 'myapp'", createRefs(names, main), 'ci');
    const { lines, progress } = reportStatus(r.stdout, true);
    assert.equal(lines[0], 'unpack ok');
    assert.deepEqual(lines.slice(1), names.map((n) => `ng ${n} invalid ref name`));
    // The pusher is told why, one printable line per name.
    assert.match(progress, /refusing ref refs\/tags\/a\.\.b: the name contains '\.\.'/);
    assert.match(progress, /refusing ref refs\/tags\/esc\?\[31m: the name contains a control character \(0x1b\)/);
    assert.doesNotMatch(progress, /\x1b/);
    assert.deepEqual(fs.readdirSync(victim), [], 'a file appeared outside the data dir');
    assert.deepEqual(filesBelow(inst.gitDir('myapp')), gitFiles, 'a file appeared or went inside the repo');
    await assertUnharmed(inst, before);
  });

  test('in one push, the valid ref lands and the forbidden one next to it does not', async () => {
    const names = ['refs/tags/v1.0', `refs/tags/${up}${victim.slice(1)}/escaped-tag`];
    const r = await rawExec(inst, "git-receive-pack 'myapp'", createRefs(names, main, 'report-status'), 'ci');
    const { lines } = reportStatus(r.stdout, false);
    assert.deepEqual(lines, ['unpack ok', 'ok refs/tags/v1.0', `ng ${names[1]} invalid ref name`]);
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v1.0'), main);
    assert.deepEqual(fs.readdirSync(victim), []);
    await assertUnharmed(inst, await refs(inst));
  });

  test('an atomic push with one forbidden name changes nothing', async () => {
    const before = await refs(inst);
    const names = ['refs/tags/v2.0', 'refs/tags/a..b'];
    const r = await rawExec(inst, "git-receive-pack 'myapp'", createRefs(names, main, 'report-status atomic'), 'ci');
    const { lines } = reportStatus(r.stdout, false);
    assert.deepEqual(lines, ['unpack ok', 'ng refs/tags/v2.0 atomic push failure', 'ng refs/tags/a..b invalid ref name']);
    await assertUnharmed(inst, before);
  });

  test('deleting by a forbidden name is refused too (an admin cannot remove files with it)', async () => {
    const before = await refs(inst);
    const canary = path.join(victim, 'canary');
    fs.writeFileSync(canary, `${main}\n`);
    const ref = `refs/tags/${up}${victim.slice(1)}/canary`;
    const body = Buffer.concat([pkt(`${main} ${ZERO} ${ref}\0report-status delete-refs\n`), FLUSH]);
    const r = await rawExec(inst, "git-receive-pack 'myapp'", body, 'admin');
    assert.deepEqual(reportStatus(r.stdout, false).lines, ['unpack ok', `ng ${ref} invalid ref name`]);
    assert.ok(fs.existsSync(canary), 'the file outside the repo was deleted');
    await assertUnharmed(inst, before);
  });
});
