import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertFsckClean, commitChange, gitEnv, makeWorkRepo, run, serverRef, startInstance, waitUntil, type Instance } from './helpers/instance.ts';

describe('git push to the built-in receive-pack', () => {
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({ repos: { myapp: 'branches:\n  main: {}\n  staging: {}\n  feature/x: {}\n' } });
    work = await makeWorkRepo(inst, 'work', 3);
    const r = await inst.git(['remote', 'add', 'origin', `${inst.url}/myapp`], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => inst.stop());

  const head = async (rev = 'HEAD') => (await run('git', ['rev-parse', rev], { cwd: work, env: gitEnv(inst.home) })).stdout.trim();

  test('a first push creates the branch with all history and a repo native git finds clean', async () => {
    const r = await inst.git(['push', 'origin', 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\* \[new branch\]\s+main -> main/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), await head());
    await assertFsckClean(inst, 'myapp');
    const count = await inst.serverGit('myapp', ['rev-list', '--count', 'main']);
    assert.equal(count.stdout.trim(), '3');
  });

  test('a branch with no runners and nothing to build is plain git: no checkout, no release', async () => {
    assert.equal(fs.existsSync(path.join(inst.dataDir, 'checkouts')), false);
    const st = await inst.ssh('alice', ['status', 'myapp', 'main']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.stdout.trim(), 'myapp/main: not deployed');
  });

  test('an incremental push arrives as a thin pack and is completed before it becomes visible', async () => {
    await commitChange(work, inst, 'incremental', { 'src/app.js': 'console.log("v2");\n' + 'x'.repeat(2000) + 'y\n' });
    const r = await inst.git(['push', 'origin', 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), await head());
    await assertFsckClean(inst, 'myapp');
    // Every pack on the server is self-contained: verify-pack fails on a thin pack.
    const packDir = path.join(inst.gitDir('myapp'), 'objects', 'pack');
    for (const idx of fs.readdirSync(packDir).filter((f) => f.endsWith('.idx'))) {
      const v = await run('git', ['verify-pack', path.join(packDir, idx)], { env: gitEnv(inst.home) });
      assert.equal(v.code, 0, v.stderr);
    }
  });

  test('a force push rewrites the branch', async () => {
    const env = gitEnv(inst.home);
    await run('git', ['reset', '-q', '--hard', 'HEAD~1'], { cwd: work, env });
    await commitChange(work, inst, 'rewritten');
    const plain = await inst.git(['push', 'origin', 'main'], { cwd: work });
    assert.notEqual(plain.code, 0, 'a non-fast-forward push without --force must be rejected by git');
    const r = await inst.git(['push', '--force', 'origin', 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\+ [0-9a-f]+\.\.\.[0-9a-f]+ main -> main \(forced update\)/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), await head());
    await assertFsckClean(inst, 'myapp');
  });

  test('an atomic push of several refs moves all of them', async () => {
    const r = await inst.git(['push', '--atomic', 'origin', 'main:staging', 'main:feature/x', 'refs/tags/v1:refs/tags/v1'], {
      cwd: work,
      env: {},
    });
    // v1 does not exist locally yet: git refuses before talking to us, so create it and retry.
    assert.notEqual(r.code, 0);
    await run('git', ['tag', '-a', 'v1', '-m', 'release 1'], { cwd: work, env: gitEnv(inst.home) });
    const ok = await inst.git(['push', '--atomic', 'origin', 'main:staging', 'main:feature/x', 'v1'], { cwd: work });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), await head());
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/feature/x'), await head());
    assert.equal(await serverRef(inst, 'myapp', 'refs/tags/v1'), await head('v1'));
    await assertFsckClean(inst, 'myapp');
  });

  test('an atomic push with one refused ref moves none', async () => {
    await commitChange(work, inst, 'atomic-two');
    const before = await serverRef(inst, 'myapp', 'refs/heads/staging');
    const r = await inst.git(['push', '--atomic', 'origin', 'HEAD:staging', 'HEAD:refs/heads/unconfigured'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /branch 'unconfigured' is not configured for repo 'myapp' \(configured: main, staging, feature\/x\)/);
    assert.match(r.stderr, /atomic push failure/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), before);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/unconfigured'), null);
    await assertFsckClean(inst, 'myapp');
  });

  test('a push of an existing commit to another branch sends an empty pack and succeeds', async () => {
    const main = await serverRef(inst, 'myapp', 'refs/heads/main');
    const r = await inst.git(['push', 'origin', `${main}:refs/heads/staging`, '--force'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/staging'), main);
  });

  test('an admin deletes a branch', async () => {
    const r = await inst.git(['push', 'origin', ':feature/x'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /- \[deleted\]\s+feature\/x/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/feature/x'), null);
    await assertFsckClean(inst, 'myapp');
  });

  test('two pushes to one branch at once: one wins, the other is rejected cleanly', async () => {
    const env = gitEnv(inst.home);
    const base = await serverRef(inst, 'myapp', 'refs/heads/main');
    const clones: string[] = [];
    for (const name of ['racer-a', 'racer-b']) {
      const dir = path.join(inst.root, name);
      await run('git', ['clone', '-q', work, dir], { env });
      await run('git', ['checkout', '-q', '-B', 'main', base!], { cwd: dir, env });
      await commitChange(dir, inst, `race ${name}`, { 'race.txt': `${name}\n`.repeat(20000) });
      await run('git', ['remote', 'set-url', 'origin', `${inst.url}/myapp`], { cwd: dir, env });
      clones.push(dir);
    }
    const results = await Promise.all(clones.map((dir) => inst.git(['push', 'origin', 'main'], { cwd: dir })));
    const winners = results.filter((r) => r.code === 0);
    assert.equal(winners.length, 1, results.map((r) => r.stderr).join('\n---\n'));
    const loser = results.find((r) => r.code !== 0)!;
    assert.match(loser.stderr, /another push is updating this ref|stale info|fetch first|rejected/);
    const tip = await serverRef(inst, 'myapp', 'refs/heads/main');
    const winnerDir = clones[results.indexOf(winners[0]!)]!;
    assert.equal(tip, (await run('git', ['rev-parse', 'HEAD'], { cwd: winnerDir, env })).stdout.trim());
    await assertFsckClean(inst, 'myapp');
  });

  test('a push to an unconfigured branch is refused and the ref is not created', async () => {
    const r = await inst.git(['push', 'origin', 'main:dev'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /branch 'dev' is not configured for repo 'myapp' \(configured: main, staging, feature\/x\)/);
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/dev'), null);
  });

  test('every push adds a pack; past 16 a gc merges them in the background, and the repo stays clean', async () => {
    const packs = () => fs.readdirSync(path.join(inst.gitDir('myapp'), 'objects', 'pack')).filter((f) => f.endsWith('.idx'));
    // Only a gc this test causes counts: one an earlier test's push started may still be
    // running (then it ends with this test's first packs left over), so wait for it, and count
    // only gcs that found more than 16 packs.
    await waitUntil('no gc running', () => !fs.existsSync(path.join(inst.gitDir('myapp'), 'gc.pid')), Boolean, 60_000);
    const gcs = () => [...inst.output.matchAll(/gc done repo=myapp packs=(\d+)->[12] /g)].filter((m) => Number(m[1]) > 16).length;
    const before = gcs();
    const merged = () => gcs() > before;
    for (let i = 0; i < 25 && !merged(); i++) {
      await commitChange(work, inst, `many ${i}`);
      const had = packs().length;
      const r = await inst.git(['push', 'origin', 'HEAD:main', '--force'], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
      // The gc runs after the push has answered: once past the limit, wait for it before pushing
      // again. Fewer packs than before mean it is done already, its log line maybe not yet read.
      const now = packs().length;
      if (now > 16 || now <= had) await waitUntil('the gc after the push', merged, Boolean, 60_000);
    }
    assert.ok(merged(), 'no gc after 25 pushes');
    assert.ok(packs().length <= 2, packs().join(' '));
    await assertFsckClean(inst, 'myapp');
    assert.equal(await serverRef(inst, 'myapp', 'refs/heads/main'), await head());
    const clone = path.join(inst.root, 'after-gc');
    const c = await inst.git(['clone', '-q', `${inst.url}/myapp`, clone]);
    assert.equal(c.code, 0, c.stderr);
  });

  test('a push to an unknown repo says so', async () => {
    const r = await inst.git(['push', `${inst.url}/nope`, 'main'], { cwd: work });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /repository 'nope' not found/);
  });
});
