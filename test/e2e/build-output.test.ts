/**
 * Build output is streamed, never accumulated: a build printing 100 MB leaves the gateway's
 * memory where it was, the pusher sees the output (or a note of what it missed), and the deploy
 * log stops at its cap with a note.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { logDir, newMarker, stopAll } from './helpers/deploy.ts';
import { gitEnv, run, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const MB = 1_000_000;
/**
 * Holding the output would take its own 100 MB and more; what streaming leaves is collector
 * slack, measured at 25-53 MB on a 2-core VM (V8's pages and the main thread's malloc arena).
 */
const GROWTH_BOUND = 80 * 1024 * 1024;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('100 MB of build output', () => {
  const marker = newMarker();
  let inst: Instance;
  let work: string;

  before(async () => {
    inst = await startInstance({
      slipwayYml: 'logs: {max_size: 5MB}\n',
      repos: { loud: `branches:\n  main:\n    env: {SLIPWAY_TEST_ID: ${marker}}\n    hooks: {build: sh loud.sh}\n    custom_cmds: {loud: \"yes ${'x'.repeat(99)} | head -n 1000000; echo loud command done\"}\n` },
    });
    work = path.join(tempDir(), 'loud');
    fs.mkdirSync(work);
    const env = gitEnv(inst.home);
    await run('git', ['init', '-q', '-b', 'main'], { cwd: work, env });
    fs.writeFileSync(path.join(work, 'loud.sh'), 'echo small\n');
    await run('git', ['add', '-A'], { cwd: work, env });
    await run('git', ['commit', '-qm', 'small'], { cwd: work, env });
    const r = await inst.git(['push', `${inst.url}/loud`, 'main'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    // 1,000,000 lines of 99 'x' and a newline.
    fs.writeFileSync(path.join(work, 'loud.sh'), `yes ${'x'.repeat(99)} | head -n 1000000\necho loud build done\n`);
    await run('git', ['commit', '-qam', 'loud'], { cwd: work, env });
  });
  after(() => stopAll(inst, marker));

  test('the gateway stays within +80 MB (not the output\'s 100), the pusher sees the output or a note of what it missed, the deploy log is capped with a note', async (t) => {
    const pid = inst.proc!.pid!;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
    const errFile = path.join(inst.root, 'push.stderr');
    const fd = fs.openSync(errFile, 'w');
    const child = spawn('git', ['push', `${inst.url}/loud`, 'main'], { cwd: work, env: gitEnv(inst.home, { GIT_SSH_COMMAND: inst.sshCommand('alice') }), stdio: ['ignore', 'ignore', fd] });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(sampler);
    fs.closeSync(fd);
    assert.equal(code, 0, fs.readFileSync(errFile, 'utf8').slice(-2000));
    assert.ok(peak - baseline < GROWTH_BOUND, `the gateway grew by ${((peak - baseline) / 1024 / 1024).toFixed(1)} MB (from ${(baseline / 1024 / 1024).toFixed(0)} MB)`);

    let shown = 0;
    let dropped = 0;
    let done = false;
    let last = 0;
    for await (const line of readline.createInterface({ input: fs.createReadStream(errFile) })) {
      if (/^remote: {8}x{99}\s*$/.test(line)) shown++;
      if (/^remote: {8}loud build done\s*$/.test(line)) last = 1;
      const m = /\[slipway: (\d+) lines? \(\d+ bytes\) of output dropped here: your connection was slower than the build/.exec(line);
      if (m) dropped += Number(m[1]);
      if (/^remote: loud\/main [0-9a-f]{8}: no runners/.test(line)) done = true;
    }
    assert.ok(done, 'the pusher sees how the deploy ended');
    // Every output line either reached the pusher or is counted in a note.
    assert.equal(shown + last + dropped, 1_000_001, `the pusher saw ${shown + last} lines and was told of ${dropped} dropped`);

    t.diagnostic(`gateway RSS ${(baseline / 2 ** 20).toFixed(0)} MB, peak +${((peak - baseline) / 2 ** 20).toFixed(1)} MB; the pusher saw ${shown} lines, ${dropped} dropped`);
    const log = path.join(logDir(inst, 'loud', 'main'), 'deploy-r2.log');
    const size = fs.statSync(log).size;
    assert.ok(size < 5 * MB + 64 * 1024, `the deploy log is ${size} bytes`);
    const tail = fs.readFileSync(log, 'utf8').slice(-4000);
    assert.match(tail, /\[slipway: \d+ lines \(\d+ bytes\) of output dropped here: the deploy log is capped at 5000000 bytes\]/);
    assert.match(tail, /loud\/main [0-9a-f]{8}: no runners/, 'slipway’s own lines still reach the log');
  });

  test('a custom command printing 100 MB to a client that reads slowly is held back, not buffered: the client gets all of it', async () => {
    const pid = inst.proc!.pid!;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
    const child = spawn('ssh', [...inst.sshCommand('alice').split(' ').slice(1), '-p', String(inst.port), 'paas@127.0.0.1', 'custom_cmds', 'loud', 'main', 'loud'], { env: gitEnv(inst.home), stdio: ['ignore', 'pipe', 'inherit'] });
    // Read nothing for 3 s, then everything.
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 3000));
    let lines = 0;
    let tail = '';
    for await (const line of readline.createInterface({ input: child.stdout })) {
      if (line.startsWith('x'.repeat(99))) lines++;
      tail = line;
    }
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('close', resolve)));
    clearInterval(sampler);
    assert.equal(code, 0);
    assert.equal(lines, 1_000_000, 'every line arrives');
    assert.equal(tail, 'loud command done');
    assert.ok(peak - baseline < GROWTH_BOUND, `the gateway grew by ${((peak - baseline) / 1024 / 1024).toFixed(1)} MB`);
  });
});
