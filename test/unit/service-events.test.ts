/**
 * The service publishes what happens as typed events: a deploy's start, steps and end, its
 * processes starting, crashing and coming back, and config swaps. Real pieces: a bare repo, the
 * supervisor, a Node app.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { writeStarterConfig } from '../../src/cli/init.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/types.ts';
import { ensureBareRepo, gitDirFor } from '../../src/git/repo.ts';
import { logger, setLogLevel, setLogSink } from '../../src/lib/log.ts';
import { Supervisor } from '../../src/runners/supervisor.ts';
import type { ServiceEvent } from '../../src/service/events.ts';
import { Service } from '../../src/service/service.ts';
import { SOURCE_ROOT, seedRepo } from '../../src/service/starter.ts';
import { Isolator } from '../../src/runners/isolation.ts';

setLogLevel('error');
const logged: string[] = [];
setLogSink((line) => logged.push(line));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-events-'));
let supervisor: Supervisor | undefined;
after(async () => {
  if (supervisor) {
    await Promise.all(supervisor.list().map((p) => supervisor!.stop(p.id, 1000)));
    supervisor.detach();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a deploy, crashes, a crash loop and config swaps each reach a subscriber as typed events', async () => {
  const configDir = path.join(dir, 'config');
  const dataDir = path.join(dir, 'data');
  writeStarterConfig(configDir, [], false);
  const loaded = loadConfig(configDir);
  assert.ok('config' in loaded);
  const config: Config = loaded.config;
  await ensureBareRepo(gitDirFor(dataDir, 'hello'), 'main', ['main']);
  const commit = (await seedRepo(gitDirFor(dataDir, 'hello'), 'main', path.join(SOURCE_ROOT, 'templates', 'hello')))!;

  const log = logger('test');
  supervisor = new Supervisor({ stateFile: path.join(dataDir, 'state', 'processes.json'), log, logLimits: config.global.logs, backoff: { initialMs: 50, maxMs: 100 } });
  await supervisor.init();
  // The gateway's own user runs the app here: this test is about events, not isolation.
  const isolator = new Isolator({ root: false, gatewayUser: 'test', sandbox: false }, dataDir, configDir, log);
  const service = new Service(config, dataDir, supervisor, log, isolator);
  const seen: ServiceEvent[] = [];
  const stop = service.events.on((e) => seen.push(e));
  const deploysOnly: ServiceEvent[] = [];
  service.events.on((e) => deploysOnly.push(e), ['deploy-started', 'deploy-finished']);

  const outcome = await service.rebuild('hello', 'main', 'tester', () => {});
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error);
  const types = seen.map((e) => e.type);
  assert.equal(types[0], 'deploy-started');
  assert.equal(types.at(-1), 'deploy-finished');
  assert.deepEqual(seen[0], { type: 'deploy-started', repo: 'hello', branch: 'main', release: 'r1', commit, user: 'tester' });
  const steps = seen.flatMap((e) => (e.type === 'deploy-step' ? [e.step] : []));
  assert.deepEqual(steps, ['Checkout', 'Start', 'Switch']);
  const started = seen.find((e) => e.type === 'process-started');
  assert.ok(started && started.type === 'process-started' && started.process.runner === 'web' && started.process.pid);
  assert.ok(types.indexOf('process-started') > types.indexOf('deploy-started') && types.indexOf('process-started') < types.indexOf('deploy-finished'));
  const finished = seen.at(-1)!;
  assert.ok(finished.type === 'deploy-finished' && finished.ok && finished.release === 'r1');
  assert.deepEqual(deploysOnly.map((e) => e.type), ['deploy-started', 'deploy-finished'], 'a filtered subscriber gets only what it asked for');

  // A crash: the exit, then the restart, with no polling by the subscriber.
  seen.length = 0;
  process.kill(started.process.pid!, 'SIGKILL');
  await until('process-restarted', () => seen.some((e) => e.type === 'process-restarted'));
  const exited = seen.find((e) => e.type === 'process-exited');
  assert.ok(exited && exited.type === 'process-exited' && exited.process.lastExit?.signal === 'SIGKILL');
  assert.ok(seen.findIndex((e) => e.type === 'process-exited') < seen.findIndex((e) => e.type === 'process-restarted'));

  // Crashing again and again: the fifth crash within two minutes is a crash loop.
  for (let crashes = 2; crashes <= 5; crashes++) {
    const pid = supervisor.list()[0]!.pid;
    assert.ok(pid, 'the app runs again');
    seen.length = 0;
    process.kill(pid, 'SIGKILL');
    await until(`crash ${crashes}`, () => seen.some((e) => e.type === 'process-exited' || e.type === 'process-crash-loop'));
    assert.equal(seen.find((e) => e.type.startsWith('process-'))!.type, crashes < 5 ? 'process-exited' : 'process-crash-loop');
    await until(`the restart after crash ${crashes}`, () => seen.some((e) => e.type === 'process-restarted'));
    await until('the restarted app', () => supervisor!.list()[0]?.pid != null);
  }

  seen.length = 0;
  service.refuseConfig(['repos/hello.yml: branches: required']);
  await service.setConfig(config);
  assert.deepEqual(seen.filter((e) => e.type.startsWith('config-')), [
    { type: 'config-refused', problems: ['repos/hello.yml: branches: required'] },
    { type: 'config-applied', repos: 1, keys: 0 },
  ]);

  // A listener that throws is logged as a bug and does not break whoever emitted.
  service.events.on(() => {
    throw new Error('broken listener');
  });
  stop();
  seen.length = 0;
  assert.doesNotThrow(() => service.refuseConfig(['x']));
  assert.equal(seen.length, 0, 'an unsubscribed listener hears nothing');
  assert.ok(logged.some((l) => /ERROR test\.events: internal error id=[0-9a-f]{8} event=config-refused error=.*broken listener/.test(l)), logged.join('\n'));
});
