import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DeployReport } from '../../src/deploy/report.ts';
import { logger } from '../../src/lib/log.ts';

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
