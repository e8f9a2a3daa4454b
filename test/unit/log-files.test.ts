/**
 * Reading and following app logs as the real log writer (src/runners/log-writer.sh) writes them:
 * the tail merged by time across processes, and a follower that gets every line exactly once,
 * in order, through rotations and files that appear later.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { logger } from '../../src/lib/log.ts';
import { releaseLines } from '../../src/runners/log-files.ts';
import { parseLogLine } from '../../src/runners/log-line.ts';
import { ServiceEvents } from '../../src/service/events.ts';
import { formatLogLine, Logs, type LogLine } from '../../src/service/logs.ts';

const WRITER = fileURLToPath(new URL('../../src/runners/log-writer.sh', import.meta.url));
const dirs: string[] = [];
const writers: ChildProcess[] = [];
after(() => {
  for (const w of writers) w.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-logs-'));
  dirs.push(d);
  return d;
}

/** A real log writer on `file`; resolves once it has written everything it was given and exited. */
function writer(file: string, maxBytes: number, tag: string) {
  const w = spawn('/bin/bash', [WRITER, file, String(maxBytes), '3', tag], { stdio: ['pipe', 'ignore', 'inherit'] });
  writers.push(w);
  return {
    write: (text: string) => w.stdin.write(text),
    end: async () => {
      w.stdin.end();
      if (w.exitCode === null) await once(w, 'exit');
    },
  };
}

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function logsOf(dir: string): Logs {
  return new Logs(() => dir, new ServiceEvents(logger('test')));
}

test('a line of either writer format parses into time, release and text', () => {
  assert.deepEqual(parseLogLine('2026-12-02T01:02:03.456789Z r12 hello r3 world'), { time: Date.parse('2026-12-02T01:02:03.456Z') * 1000 + 789, release: 'r12', text: 'hello r3 world' });
  // Before the tag: ms only, and what follows is all text even when it looks like a tag.
  assert.deepEqual(parseLogLine('2026-12-02T01:02:03.456Z r2 d2'), { time: Date.parse('2026-12-02T01:02:03.456Z') * 1000, release: null, text: 'r2 d2' });
  assert.equal(parseLogLine('no time here').text, 'no time here');
  assert.ok(Number.isNaN(parseLogLine('no time here').time));
});

test('the tail is the last n lines of all processes merged by time, each named by its process', async () => {
  const dir = tempDir();
  const web0 = writer(path.join(dir, 'web.0.log'), 1 << 20, 'r1');
  const web1 = writer(path.join(dir, 'web.1.log'), 1 << 20, 'r1');
  const worker = writer(path.join(dir, 'worker.0.log'), 1 << 20, 'r1');
  const order: string[] = [];
  // Written one after another with a pause, so their times order them.
  for (let i = 0; i < 12; i++) {
    const [w, name] = ([[web0, 'web.0'], [web1, 'web.1'], [worker, 'worker.0']] as const)[i % 3]!;
    w.write(`line ${i}\n`);
    order.push(`${name} | line ${i}`);
    const file = path.join(dir, `${name}.log`);
    await until(`line ${i} in ${name}`, () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(`line ${i}\n`));
  }
  await Promise.all([web0.end(), web1.end(), worker.end()]);
  const logs = logsOf(dir);
  assert.deepEqual(logs.tail({ repo: 'a', branch: 'main', lines: 5 }).map((l) => formatLogLine(l)), order.slice(-5));
  assert.deepEqual(logs.tail({ repo: 'a', branch: 'main' }).map((l) => formatLogLine(l)), order);
  assert.deepEqual(logs.tail({ repo: 'a', branch: 'main', runner: 'web', lines: 3 }).map((l) => formatLogLine(l)), order.filter((l) => l.startsWith('web.')).slice(-3));
  assert.equal(formatLogLine(logs.tail({ repo: 'a', branch: 'main', lines: 1 })[0]!, 8), 'worker.0 | line 11');
});

test('the tail reaches back into rotated files when the current one holds too few lines', async () => {
  const dir = tempDir();
  const w = writer(path.join(dir, 'web.0.log'), 400, 'r1');
  for (let i = 0; i < 60; i++) w.write(`line ${i}\n`);
  await w.end();
  assert.ok(fs.existsSync(path.join(dir, 'web.0.log.2')), 'rotated twice');
  const got = logsOf(dir).tail({ repo: 'a', branch: 'main', lines: 20 }).map((l) => l.text);
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `line ${40 + i}`));
});

test('a follower gets every new line once and in order, across rotations and a process log that appears later', async () => {
  const dir = tempDir();
  // Small enough to rotate twice, big enough that no file is rotated out (keep 3) before a loaded machine's follower saw it.
  const first = writer(path.join(dir, 'web.0.log'), 3000, 'r1');
  first.write('before 1\nbefore 2\n');
  await until('the lines before', () => fs.existsSync(path.join(dir, 'web.0.log')) && fs.readFileSync(path.join(dir, 'web.0.log'), 'utf8').includes('before 2'));
  const logs = logsOf(dir);
  const got: LogLine[][] = [];
  const stop = logs.follow({ repo: 'a', branch: 'main', lines: 1 }, (lines) => got.push(lines));
  assert.deepEqual(got[0]!.map((l) => l.text), ['before 2'], 'the tail comes first, before follow returns');
  for (let i = 0; i < 200; i++) first.write(`line ${i}\n`);
  const later = writer(path.join(dir, 'worker.0.log'), 600, 'r2');
  later.write('worker here\n');
  const texts = () => got.slice(1).flat().map((l) => `${l.source} ${l.release} ${l.text}`);
  await until('every line', () => texts().filter((t) => t.startsWith('web.0')).length === 200 && texts().includes('worker.0 r2 worker here'));
  assert.ok(fs.existsSync(path.join(dir, 'web.0.log.2')), 'the log rotated twice meanwhile');
  assert.deepEqual(texts().filter((t) => t.startsWith('web.0')), Array.from({ length: 200 }, (_, i) => `web.0 r1 line ${i}`));
  stop();
  assert.equal(logs.watching, 0, 'the last follower gone, the watch is closed');
  await Promise.all([first.end(), later.end()]);
});

test('a follower gets the lines of two releases writing one process log while it rotates, each once and in its order', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'web.0.log');
  const old = writer(file, 800, 'r1');
  const next = writer(file, 800, 'r2');
  old.write('old start\n');
  await until('the first line', () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('old start'));
  const logs = logsOf(dir);
  const got: LogLine[] = [];
  const stop = logs.follow({ repo: 'a', branch: 'main', lines: 0 }, (lines) => got.push(...lines));
  const of = (release: string) => got.filter((l) => l.release === release).map((l) => l.text);
  for (let i = 0; i < 150; i++) {
    old.write(`old ${i}\n`);
    next.write(`new ${i}\n`);
    // About one rotation per ten pairs: a follower is not outrun by more than the files kept
    // (3 of 800 bytes here), which would drop lines before anyone could read them.
    if (i % 10 === 9) await until(`line ${i} of both`, () => of('r1').includes(`old ${i}`) && of('r2').includes(`new ${i}`));
  }
  await until('both writers\' lines', () => of('r1').includes('old 149') && of('r2').includes('new 149'));
  // How often depends on the two writers' race to rotate (one may find the file moved already).
  assert.ok(fs.existsSync(`${file}.1`), 'rotated meanwhile');
  assert.deepEqual(of('r1'), Array.from({ length: 150 }, (_, i) => `old ${i}`));
  assert.deepEqual(of('r2'), Array.from({ length: 150 }, (_, i) => `new ${i}`));
  stop();
  await Promise.all([old.end(), next.end()]);
});

test("a failed start finds its own last lines past 20,000 of the running release's, across a rotation", async () => {
  const dir = tempDir();
  const file = path.join(dir, 'web.0.log');
  // r2 (running) and r3 (starting) share the process log, as during a deploy; the writer rotates at 400 kB.
  const r3 = writer(file, 400_000, 'r3');
  r3.write('r3 one\nr3 two\nr3 three\n');
  await r3.end();
  const r2 = writer(file, 400_000, 'r2');
  r2.write(Array.from({ length: 20_000 }, (_, i) => `request ${i} to the running release\n`).join(''));
  await r2.end();
  assert.ok(fs.existsSync(`${file}.1`), 'the log rotated');
  assert.deepEqual(releaseLines(file, 'r3', 2), ['r3 two', 'r3 three']);
  assert.deepEqual(releaseLines(file, 'r3', 15), ['r3 one', 'r3 two', 'r3 three']);
  assert.equal(releaseLines(file, 'r2', 3).at(-1), 'request 19999 to the running release');
  assert.deepEqual(releaseLines(file, 'r9', 3), []);
});
