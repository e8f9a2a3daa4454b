import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { gc, GcBusyError, GcRaceError, objectFileCounts } from '../../src/git/gc.ts';
import { ObjectStore } from '../../src/git/object-store.ts';
import { writePack } from '../../src/git/pack-writer.ts';
import { allObjects, git, gitText, initBare, listDir, makeRepo, packRevs, removeDir, tempDir, writeRef } from './git-fixtures.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

const DAY = 86_400_000;
const GRACE = 14 * DAY;

interface Fixture {
  bare: string;
  commits: string[];
  /** unreachable, in a pack 30 days old */
  oldSide: string;
  /** unreachable, in a pack 1 day old */
  youngSide: string;
  /** unreachable by refs, 30 days old, but a release keeps it */
  release: string;
  /** unreachable loose blobs */
  oldLoose: string;
  youngLoose: string;
}

const age = (file: string, ms: number) => {
  const t = (Date.now() - ms) / 1000;
  utimesSync(file, t, t);
};

/**
 * A bare repo as pushes leave it (thin packs completed with their bases): one pack per commit of a 20-commit history on main, plus a
 * refused deploy's side commit 30 days old, a failed one from yesterday, a rollback target the
 * ref no longer reaches, and loose junk of both ages.
 */
function build(): Fixture {
  const root = tempDir('gc');
  dirs.push(root);
  const work = join(root, 'work');
  mkdirSync(work);
  const commits = makeRepo(work, 20, 30);
  const bare = join(root, 'bare.git');
  initBare(bare);
  const packDir = join(bare, 'objects', 'pack');
  const addPack = (revs: string[], ageMs: number) => {
    const before = new Set(listDir(packDir));
    // Thin, completed by index-pack, as a push arrives: deltas against objects of earlier packs.
    git(bare, ['index-pack', '--stdin', '--fix-thin'], packRevs(work, revs, ['--thin']));
    for (const f of listDir(packDir)) if (!before.has(f)) age(join(packDir, f), ageMs);
  };
  commits.forEach((c, i) => addPack(i === 0 ? [c] : [c, `^${commits[i - 1]}`], 40 * DAY));
  writeRef(bare, 'refs/heads/main', commits.at(-1)!);
  const side = (name: string, ageMs: number): string => {
    git(work, ['checkout', '-q', '-b', name, commits.at(-1)!]);
    for (let k = 0; k < 3; k++) {
      git(work, ['commit', '-q', '--allow-empty', '-m', `${name} ${k}`]);
    }
    appendFileSync(join(work, 'dir0', 'sub0', 'file0.txt'), `${name}\n`.repeat(50));
    git(work, ['commit', '-q', '-am', `${name} edit`]);
    const tip = gitText(work, ['rev-parse', 'HEAD']);
    addPack([tip, `^${commits.at(-1)}`], ageMs);
    git(work, ['checkout', '-q', 'main']);
    return tip;
  };
  const oldSide = side('refused', 30 * DAY);
  const youngSide = side('failed', 1 * DAY);
  const release = side('rolled-back', 30 * DAY);
  const loose = (content: string, ageMs: number) => {
    const oid = gitText(bare, ['hash-object', '-w', '--stdin'], content);
    age(join(bare, 'objects', oid.slice(0, 2), oid.slice(2)), ageMs);
    return oid;
  };
  return { bare, commits, oldSide, youngSide, release, oldLoose: loose('old junk\n', 20 * DAY), youngLoose: loose('new junk\n', 2 * DAY) };
}

let fixture: Fixture | undefined;
/** A fresh copy of the one fixture (building it with git is the slow part; each test changes its copy). */
function repo(): Fixture {
  fixture ??= build();
  const copy = join(tempDir('gc-copy'), 'bare.git');
  dirs.push(dirname(copy));
  cpSync(fixture.bare, copy, { recursive: true, preserveTimestamps: true });
  return { ...fixture, bare: copy };
}

const has = (bare: string, oid: string) => spawnSync('git', ['--git-dir', bare, 'cat-file', '-e', oid]).status === 0;
const packs = (bare: string) => listDir(join(bare, 'objects', 'pack')).filter((f) => f.endsWith('.pack')).map((f) => join(bare, 'objects', 'pack', f));

/** Objects stored as deltas, and all objects, of one pack (`git verify-pack -v`). */
function deltaStats(pack: string): { objects: number; deltas: number } {
  const lines = gitText(dirname(pack), ['verify-pack', '-v', pack]).split('\n').filter((l) => /^[0-9a-f]{40} /.test(l));
  return { objects: lines.length, deltas: lines.filter((l) => l.split(/\s+/).length >= 7).length };
}

test('gc drops unreachable objects past the grace period and keeps young ones, releases and everything refs reach', async () => {
  const f = repo();
  const keepAlive = () => [f.release];
  const r = await gc(f.bare, { graceMs: GRACE, keepAlive });
  assert.equal(r.changed, true);
  assert.equal(r.packsBefore, 23);
  assert.equal(r.looseBefore, 2);
  for (const c of f.commits) assert.ok(has(f.bare, c), `history commit ${c} kept`);
  assert.ok(has(f.bare, f.release), 'the rollback target is kept');
  assert.ok(has(f.bare, f.youngSide), 'the failed deploy of yesterday is kept');
  assert.ok(has(f.bare, f.youngLoose), 'the young loose object is kept');
  assert.ok(!has(f.bare, f.oldSide), 'the refused push of 30 days ago is dropped');
  assert.ok(!has(f.bare, `${f.oldSide}~1`) && !has(f.bare, f.oldLoose), 'old junk is dropped');
  // The refused side: 4 commits, the edit's 3 trees and 1 blob; and the old loose blob.
  assert.equal(r.dropped, 9);
  git(f.bare, ['fsck', '--full', '--strict']);
  // One pack of what refs and releases reach, one cruft pack with per-object ages; no loose objects.
  assert.deepEqual(objectFileCounts(f.bare), { packs: 2, loose: 0 });
  assert.equal(listDir(join(f.bare, 'objects', 'pack')).filter((x) => x.endsWith('.mtimes')).length, 1);
});

test('the merged pack keeps deltas: as many and as small as native git repack -a -d', async () => {
  const f = repo();
  const native = join(tempDir('gc-native'), 'bare.git');
  dirs.push(dirname(native));
  cpSync(f.bare, native, { recursive: true });
  writeRef(native, 'refs/heads/release', f.release);
  git(native, ['repack', '-a', '-d', '-q']);
  await gc(f.bare, { graceMs: 0, keepAlive: () => [f.release] });
  const [ours] = packs(f.bare);
  const [theirs] = packs(native);
  const o = deltaStats(ours!);
  const t = deltaStats(theirs!);
  assert.equal(o.objects, t.objects);
  assert.ok(o.deltas >= t.deltas * 0.9, `deltas: ours ${o.deltas}, native ${t.deltas}`);
  assert.ok(statSync(ours!).size <= statSync(theirs!).size * 1.15, `size: ours ${statSync(ours!).size}, native ${statSync(theirs!).size}`);
});

test('a cruft object keeps its own age across gcs, so it expires on time', async () => {
  const f = repo();
  // Yesterday's objects within a 14-day grace: kept, in a cruft pack written just now.
  await gc(f.bare, { graceMs: GRACE, keepAlive: () => [] });
  assert.ok(has(f.bare, f.youngSide));
  // The next gc with a grace shorter than their real age drops them, though the cruft pack is new.
  const r = await gc(f.bare, { graceMs: DAY / 2, keepAlive: () => [] });
  assert.ok(!has(f.bare, f.youngSide) && !has(f.bare, f.youngLoose) && !has(f.bare, f.release));
  assert.ok(r.dropped > 0);
  assert.deepEqual(objectFileCounts(f.bare), { packs: 1, loose: 0 });
  git(f.bare, ['fsck', '--full', '--strict', '--no-dangling']);
});

test('a second gc finds nothing to do and leaves the pack as it is', async () => {
  const f = repo();
  await gc(f.bare, { graceMs: 0, keepAlive: () => [] });
  const before = listDir(join(f.bare, 'objects', 'pack'));
  const r = await gc(f.bare, { graceMs: 0, keepAlive: () => [] });
  assert.equal(r.changed, false);
  assert.deepEqual(listDir(join(f.bare, 'objects', 'pack')), before);
});

test('one gc at a time per repo: a second one is refused while the first runs', async () => {
  const f = repo();
  const first = gc(f.bare, { graceMs: GRACE, keepAlive: () => [] });
  await assert.rejects(gc(f.bare, { graceMs: GRACE, keepAlive: () => [] }), GcBusyError);
  await first;
  assert.equal(listDir(f.bare).includes('gc.pid'), false);
});

test('a ref to a missing object stops the gc before anything changes', async () => {
  const f = repo();
  writeRef(f.bare, 'refs/heads/broken', 'ab'.repeat(20));
  const before = listDir(join(f.bare, 'objects', 'pack')).sort();
  await assert.rejects(gc(f.bare, { graceMs: 0, keepAlive: () => [] }), /repair it first/);
  assert.deepEqual(listDir(join(f.bare, 'objects', 'pack')).sort(), before);
  assert.ok(has(f.bare, f.oldSide));
});

test('a store opened before a gc still reads every object and packs them for a clone after it', async () => {
  const f = repo();
  const store = new ObjectStore([join(f.bare, 'objects')]);
  try {
    const oids = gitText(f.bare, ['rev-list', '--objects', '--all']).split('\n').map((l) => l.slice(0, 40));
    oids.push(f.youngLoose);
    // The gc moves the loose object into a pack and removes every pack this store opened.
    await gc(f.bare, { graceMs: GRACE, keepAlive: () => [] });
    assert.equal(listDir(join(f.bare, 'objects', f.youngLoose.slice(0, 2))).length, 0);
    const chunks: Buffer[] = [];
    await writePack(oids, store, (c) => void chunks.push(c), { ofsDelta: true });
    const clone = join(tempDir('gc-clone'), 'c.git');
    dirs.push(dirname(clone));
    initBare(clone);
    git(clone, ['index-pack', '--stdin', '--strict'], Buffer.concat(chunks));
    assert.equal(allObjects(clone).length, oids.length);
  } finally {
    store.close();
  }
});

test('a gc killed at any moment leaves a valid repo, and the next gc finishes the job', async () => {
  const f = repo();
  const script = `import { gc } from ${JSON.stringify(new URL('../../src/git/gc.ts', import.meta.url).pathname)};
process.stdout.write('go\\n');
await gc(process.argv[1], { graceMs: ${GRACE}, keepAlive: () => [${JSON.stringify(f.release)}] });
process.stdout.write('done\\n');`;
  const startGc = (gitDir: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, gitDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const run = { child, out: '', doneAt: 0 };
    child.stdout.on('data', (d: Buffer) => {
      run.out += d.toString();
      if (!run.doneAt && run.out.includes('done')) run.doneAt = Date.now();
    });
    return run;
  };
  // How long a whole gc of this repo takes here, on a copy: the kills are spread over that time,
  // so that most land during a gc on a fast machine as on a slow one.
  const copy = join(tempDir('gc-timing'), 'r.git');
  dirs.push(dirname(copy));
  cpSync(f.bare, copy, { recursive: true });
  const timing = startGc(copy);
  await waitFor(() => timing.out.includes('go'), 20_000);
  const goAt = Date.now();
  await waitFor(() => timing.doneAt > 0, 20_000);
  const gcMs = timing.doneAt - goAt;
  if (timing.child.exitCode === null) await new Promise((r) => timing.child.once('exit', r));
  let midway = 0;
  for (const share of [0, 0.1, 0.25, 0.4, 0.55, 0.7]) {
    const delayMs = Math.round(share * gcMs);
    const run = startGc(f.bare);
    await waitFor(() => run.out.includes('go'), 20_000);
    await new Promise((r) => setTimeout(r, delayMs));
    if (!run.out.includes('done')) midway++;
    // The gc may have finished (and exited) before the kill.
    const { child } = run;
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    git(f.bare, ['fsck', '--full', '--no-dangling']);
    for (const c of [...f.commits, f.release, f.youngSide]) assert.ok(has(f.bare, c), `${c} after a kill at ${delayMs} ms`);
    rmSync(join(f.bare, 'gc.pid'), { force: true }); // as slipway's start-up does (cleanStaleState)
  }
  assert.ok(midway >= 3, `only ${midway} kills landed during a gc`);
  await gc(f.bare, { graceMs: GRACE, keepAlive: () => [f.release] });
  assert.ok(!has(f.bare, f.oldSide));
  assert.deepEqual(objectFileCounts(f.bare), { packs: 2, loose: 0 });
  git(f.bare, ['fsck', '--full', '--strict']);
});

async function waitFor(ok: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('native git reads the cruft pack: its own repack expires objects by the ages slipway recorded', async () => {
  const f = repo();
  await gc(f.bare, { graceMs: GRACE, keepAlive: () => [] });
  // The cruft pack was written just now; only its .mtimes says yesterday's objects are a day old.
  const copy = (name: string) => {
    const d = join(dirname(f.bare), name);
    cpSync(f.bare, d, { recursive: true });
    return d;
  };
  const sooner = copy('sooner.git');
  git(sooner, ['repack', '--cruft', '--cruft-expiration=12.hours.ago', '-d']);
  assert.ok(!has(sooner, f.youngSide), 'native git kept a day-old object past a 12-hour expiry: it did not read the recorded ages');
  const later = copy('later.git');
  git(later, ['repack', '--cruft', '--cruft-expiration=2.days.ago', '-d']);
  assert.ok(has(later, f.youngSide), 'native git dropped a day-old object under a 2-day expiry');
  git(later, ['fsck', '--full', '--no-dangling']);
});

test('a root that moves during the gc to an object it would drop stops it, and nothing is removed', async () => {
  const f = repo();
  let calls = 0;
  // The first call is the gc's start; the second its last look before removing anything.
  const keepAlive = () => (++calls === 1 ? [] : [f.oldSide]);
  await assert.rejects(gc(f.bare, { graceMs: GRACE, keepAlive }), GcRaceError);
  assert.equal(calls, 2);
  assert.ok(has(f.bare, f.oldSide) && has(f.bare, f.oldLoose));
  git(f.bare, ['fsck', '--full', '--strict', '--no-dangling']);
  await gc(f.bare, { graceMs: GRACE, keepAlive: () => [f.oldSide] });
  assert.ok(has(f.bare, f.oldSide));
  git(f.bare, ['fsck', '--full', '--strict', '--no-dangling']);
});
