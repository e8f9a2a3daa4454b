import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DeployReport, type Pusher } from '../../src/deploy/report.ts';
import { logger } from '../../src/lib/log.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-report-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** A pusher whose unsent backlog the test sets. */
function pusher(): { out: Pusher; text: () => string; setBacklog: (b: number) => void } {
  let text = '';
  let backlog = 0;
  const out = Object.assign((t: string) => void (text += t), { backlog: () => backlog });
  return { out, text: () => text, setBacklog: (b) => (backlog = b) };
}

function reportTo(out: Pusher, maxLogBytes?: number): { r: DeployReport; file: string } {
  const file = path.join(tmp, `deploy-${++n}.log`);
  return { r: new DeployReport(out, file, undefined, {}, logger('test'), undefined, { maxLogBytes }), file };
}

test('a pusher that lags behind misses build output, then gets a note of how much, and always gets slipway’s own lines', () => {
  const p = pusher();
  const { r, file } = reportTo(p.out);
  r.step('Build', 'make');
  r.output('line 1\n');
  p.setBacklog(2 * 1024 * 1024);
  r.output('line 2\nline 3\n');
  r.done();
  p.setBacklog(0);
  r.output('line 4\n');
  r.close();
  const seen = p.text();
  assert.match(seen, /-----> Build make\n {7}line 1\n {7}\[slipway: 2 lines \(28 bytes\) of output dropped here: your connection was slower than the build; the deploy log has them\]\n {7}\(\d\.\d\d s\)\n {7}line 4\n$/);
  assert.doesNotMatch(seen, /line 2|line 3/);
  assert.match(fs.readFileSync(file, 'utf8'), /line 1\n.*line 2\n.*line 3\n/s, 'the deploy log has everything');
});

test('the deploy log stops taking output at its cap and says how much it left out; slipway’s lines still go in', () => {
  const p = pusher();
  const { r, file } = reportTo(p.out, 100);
  r.step('Build');
  for (let i = 0; i < 5000; i++) r.output(`output line ${i}\n`);
  r.fail('build exited 1');
  r.close();
  const log = fs.readFileSync(file, 'utf8');
  // The cap, the note, and the failure with the last 15 lines repeated.
  assert.ok(log.length < 1500, `the log is ${log.length} bytes`);
  assert.match(log, /\[slipway: \d+ lines \(\d+ bytes\) of output dropped here: the deploy log is capped at 100 bytes\]/);
  assert.match(log, /!----> Build failed: build exited 1/);
  assert.match(p.text(), /output line 49/, 'the pusher still saw all of it');
});

test('output without newlines is cut into lines of at most 4 KiB instead of piling up', () => {
  const p = pusher();
  const { r } = reportTo(p.out);
  r.step('Build');
  for (let i = 0; i < 100; i++) r.output('x'.repeat(10_000));
  const lines = p.text().split('\n');
  assert.ok(lines.length > 200, `${lines.length} lines`);
  assert.ok(lines.every((l) => l.length <= 4096 + 20), 'every line is cut');
  r.close();
});

function report() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-report-'));
  let text = '';
  const steps: string[] = [];
  const r = new DeployReport((t) => (text += t), path.join(dir, 'deploy.log'), undefined, {}, logger('test'), (name) => steps.push(name));
  return { r, text: () => text, steps, file: path.join(dir, 'deploy.log'), done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

test('a failed step with short output does not print its output a second time', () => {
  const t = report();
  t.r.step('Build', './build.sh');
  t.r.output('compile error\nline 2\n');
  t.r.fail('build exited 3');
  t.r.close();
  const lines = t.text().trimEnd().split('\n');
  assert.deepEqual(lines.slice(1, 3).map((l) => l.trim()), ['compile error', 'line 2']);
  assert.match(lines[3]!, /^!----> Build failed: build exited 3 \(\d+\.\d+ s\)$/);
  assert.equal(lines.length, 4, t.text());
  assert.equal(fs.readFileSync(t.file, 'utf8'), t.text(), 'the deploy log holds what the pusher saw');
  assert.deepEqual(t.steps, ['Build']);
  t.done();
});

test('a failed step whose output scrolled by is summed up by its last 15 lines', () => {
  const t = report();
  t.r.step('Build');
  t.r.output(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n') + '\n');
  t.r.fail('build exited 1');
  t.r.close();
  const lines = t.text().trimEnd().split('\n');
  const at = lines.findIndex((l) => l.startsWith('!----> Build failed'));
  assert.equal(lines[at + 1]!.trim(), 'last 15 of 40 lines of output:');
  assert.deepEqual(lines.slice(at + 2).map((l) => l.trim()), Array.from({ length: 15 }, (_, i) => `| line ${i + 26}`));
  t.done();
});
