/**
 * Repository gc through the real clients: `ssh … gc <repo>` as admin (and refused to others),
 * what it keeps (refs, rollback targets, young junk) and drops (old junk), pushes and clones
 * running while it works, and the gc a push starts past `gc.auto_packs`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, newMarker, portRange, stopAll } from './helpers/deploy.ts';
import { assertFsckClean, serverRef, startInstance, tempDir, waitUntil, type Instance } from './helpers/instance.ts';

const marker = newMarker();
const ports = portRange();
const DAY = 86_400;

const REPO = `branches:
  main:
    runners:
      worker: {type: SimpleProcess, cmd: node worker.js}
    env: {SLIPWAY_TEST_ID: ${marker}}
  plain: {}
`;

describe('gc of a repo', () => {
  let inst: Instance;
  let work: string;
  const url = () => `${inst.url}/hello`;
  const git = async (args: string[]) => {
    const r = await inst.git(args, { cwd: work });
    assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const present = async (oid: string) => (await inst.serverGit('hello', ['cat-file', '-e', oid])).code === 0;
  const packDir = () => path.join(inst.gitDir('hello'), 'objects', 'pack');
  const packCount = () => fs.readdirSync(packDir()).filter((f) => f.endsWith('.idx')).length;
  /** Makes every object file of the repo look `days` old. */
  const age = (days: number) => {
    const t = Date.now() / 1000 - days * DAY;
    const objects = path.join(inst.gitDir('hello'), 'objects');
    for (const d of fs.readdirSync(objects)) {
      if (d !== 'pack' && !/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of fs.readdirSync(path.join(objects, d))) fs.utimesSync(path.join(objects, d, f), t, t);
    }
  };
  /** A commit on `plain` that is pushed, then taken back by a force push: unreachable junk. */
  const junk = async (name: string, base: string) => {
    await git(['checkout', '-q', '-B', 'plain', base]);
    fs.writeFileSync(path.join(work, `${name}.txt`), `${name} ${'x'.repeat(3000)}\n`);
    await git(['add', '-A']);
    await git(['commit', '-q', '-m', name]);
    const oid = await git(['rev-parse', 'HEAD']);
    await git(['push', '-q', '--force', url(), 'plain']);
    await git(['push', '-q', '--force', url(), `${base}:refs/heads/plain`]);
    await git(['checkout', '-q', 'main']);
    return oid;
  };

  before(async () => {
    inst = await startInstance({
      users: ['alice', 'ci'],
      slipwayYml: `ports: {min: ${ports.min}, max: ${ports.max}}\nusers:\n  alice: admin\n  ci: {deploy: [hello]}\ngc: {auto_packs: 6}\n`,
      repos: { hello: REPO },
    });
    work = path.join(tempDir(), 'work');
  });
  after(() => stopAll(inst, marker));

  test('gc drops old junk, keeps young junk and the rollback target, and the repo stays clean', async () => {
    const v1 = await commitApp(work, inst, 'v1');
    await git(['push', '-q', url(), 'main']);
    const v2 = await commitApp(work, inst, 'v2');
    await git(['push', '-q', url(), 'main']);
    const rb = await inst.ssh('alice', ['rollback', 'hello', 'main', 'r1']);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), v1, 'no ref reaches v2 now; only its release does');
    const oldJunk = await junk('old-junk', v1);
    age(30);
    const youngJunk = await junk('young-junk', v1);

    const r = await inst.ssh('alice', ['gc', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello: \d+ packs and 0 loose objects \(.*\) -> 2 packs \(.*\) in \d+\.\d s\nkept \d+ reachable objects and \d+ unreachable ones? younger than the grace period; dropped 3 objects\n$/);
    assert.equal(await present(oldJunk), false, 'junk older than the grace period is dropped');
    assert.equal(await present(youngJunk), true, 'junk younger than the grace period is kept');
    assert.equal(await present(v2), true, 'the rollback target is kept');
    await assertFsckClean(inst, 'hello');
    assert.equal(packCount(), 2);

    // Rolling forward to the kept release works after the gc, and so does a clone.
    const fwd = await inst.ssh('alice', ['rollback', 'hello', 'main', 'r2']);
    assert.equal(fwd.code, 0, fwd.stderr);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/main'), v2);
    const clone = path.join(tempDir(), 'clone');
    assert.equal((await inst.git(['clone', '-q', url(), clone])).code, 0);

    const again = await inst.ssh('alice', ['gc', 'hello']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^hello: (nothing to do|\d+ packs)/);
  });

  test('gc is for admins: a deploy user is denied, a wrong call gets the usage', async () => {
    const denied = await inst.ssh('ci', ['gc', 'hello']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^permission denied: ci may not administer hello$/m);
    const missing = await inst.ssh('alice', ['gc', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /repository 'nope' not found/);
    const usage = await inst.ssh('alice', ['gc']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: gc <repo>/);
  });

  test('pushes and clones running in a loop while gcs run never fail', async () => {
    // Enough objects that a gc takes a while.
    await git(['checkout', '-q', '-B', 'plain', 'main']);
    for (let i = 0; i < 1500; i++) {
      fs.mkdirSync(path.join(work, 'bulk', String(i % 30)), { recursive: true });
      fs.writeFileSync(path.join(work, 'bulk', String(i % 30), `f${i}.txt`), `file ${i}\n${`${i * 7919} lorem ipsum dolor\n`.repeat(40)}`);
    }
    await git(['add', '-A']);
    await git(['commit', '-q', '-m', 'bulk']);
    await git(['push', '-q', '--force', url(), 'plain']);

    // 15 s, and until each loop went round three times (a loaded machine is slow), 120 s at most.
    const until = Date.now() + 15_000;
    const hardStop = Date.now() + 120_000;
    const going = (n: number) => (Date.now() < until || n < 3) && Date.now() < hardStop;
    const failures: string[] = [];
    let pushes = 0;
    let clones = 0;
    let gcs = 0;
    const pusher = async () => {
      for (let i = 0; going(i); i++) {
        fs.appendFileSync(path.join(work, 'bulk', '0', 'f0.txt'), `push ${i}\n`);
        await git(['commit', '-q', '-am', `push ${i}`]);
        const r = await inst.git(['push', '-q', url(), 'plain'], { cwd: work });
        if (r.code !== 0) failures.push(`push ${i}: ${r.stderr}`);
        pushes++;
      }
    };
    const cloner = async () => {
      for (let i = 0; going(i); i++) {
        const dir = path.join(tempDir(), 'c');
        const r = await inst.git(['clone', '-q', '--no-checkout', '--branch', 'plain', url(), dir]);
        if (r.code !== 0) failures.push(`clone ${i}: ${r.stderr}`);
        fs.rmSync(path.dirname(dir), { recursive: true, force: true });
        clones++;
      }
    };
    const collector = async () => {
      for (let i = 0; going(gcs); i++) {
        const r = await inst.ssh('alice', ['gc', 'hello']);
        // Another gc (one a push started) may hold the repo: that is the one refusal allowed.
        if (r.code !== 0 && !/already running/.test(r.stderr)) failures.push(`gc ${i}: ${r.stderr}`);
        if (/ -> /.test(r.stdout)) gcs++;
      }
    };
    await Promise.all([pusher(), cloner(), cloner(), collector()]);
    assert.deepEqual(failures, []);
    assert.ok(pushes >= 3 && clones >= 3 && gcs >= 3, `pushes ${pushes}, clones ${clones}, gcs that changed something ${gcs}`);
    assert.equal(await serverRef(inst, 'hello', 'refs/heads/plain'), await git(['rev-parse', 'plain']));
    await assertFsckClean(inst, 'hello');
  });

  test('a push past gc.auto_packs starts a gc in the background', async () => {
    const before = (inst.output.match(/gc done repo=hello/g) ?? []).length;
    const gcLines = () => (inst.output.match(/gc done repo=hello/g) ?? []).length;
    for (let i = 0; i < 8 && gcLines() === before; i++) {
      fs.appendFileSync(path.join(work, 'bulk', '1', 'f1.txt'), `auto ${i}\n`);
      await git(['commit', '-q', '-am', `auto ${i}`]);
      await git(['push', '-q', url(), 'plain']);
      if (packCount() > 6) await waitUntil('the gc after the push', gcLines, (n) => n > before, 60_000);
    }
    assert.ok(gcLines() > before, 'no gc after 8 pushes past the threshold');
    assert.ok(packCount() <= 3, `packs left: ${packCount()}`);
    await assertFsckClean(inst, 'hello');
  });
});
