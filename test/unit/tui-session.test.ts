/**
 * One dashboard session failing ends that session only: the user gets `internal error (id …)`,
 * the other dashboards keep drawing, and blessed has installed nothing on the process (it would
 * exit the gateway on an uncaught exception or a signal). And what an idle dashboard asks of the
 * service, on a mocked clock.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mock, test } from 'node:test';
import { logger, setLogSink } from '../../src/lib/log.ts';
import type { ServiceEvent } from '../../src/service/events.ts';
import type { Snapshot } from '../../src/tui/model.ts';
import { runDashboard, type DashboardChannel } from '../../src/tui/session.ts';

const logged: string[] = [];
setLogSink((l) => logged.push(l));

class FakeChannel implements DashboardChannel {
  text = '';
  destroyed = false;
  readonly ee = new EventEmitter();
  write(d: string): void {
    this.text += d;
  }
  onData(fn: (d: Buffer) => void): void {
    this.ee.on('data', fn);
  }
  onClose(fn: () => void): void {
    this.ee.once('close', fn);
  }
  onResize(fn: (c: number, r: number) => void): void {
    this.ee.on('resize', fn);
  }
  key(s: string): void {
    this.ee.emit('data', Buffer.from(s));
  }
}

function snapshot(): Snapshot {
  return {
    host: 'box',
    user: 'alice',
    role: 'admin',
    version: '0.1.0',
    config: { applied: true },
    now: Date.now(),
    branches: [{ repo: 'shop', branch: 'main', runners: [{ name: 'web', type: 'SimpleProcess', count: 1 }], releases: [], current: null, activity: null, lastDeploy: null, processes: [], mayOperate: false, customCmds: [] }],
  };
}

const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection', 'SIGINT', 'SIGTERM', 'SIGQUIT', 'exit'] as const;
const listenerCounts = () => PROCESS_EVENTS.map((e) => `${e}=${process.listenerCount(e)}`).join(' ');

async function until(what: string, fn: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a failure inside one dashboard closes it with a message; another dashboard goes on; no process-wide handler appears', async () => {
  const before = listenerCounts();
  const listeners = new Set<(e: ServiceEvent) => void>();
  let broken = false;
  const open = (ch: FakeChannel, snap: () => Snapshot) =>
    runDashboard({
      channel: ch,
      cols: 80,
      rows: 24,
      user: 'alice',
      snapshot: snap,
      retime: (s) => s,
      subscribe: (fn) => {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      run: async () => 0,
      logs: () => () => {},
      log: logger('test'),
    });
  const a = new FakeChannel();
  const b = new FakeChannel();
  const doneA = open(a, () => {
    if (broken) throw new Error('boom in a view');
    return snapshot();
  });
  const doneB = open(b, snapshot);
  await until('both dashboards drew their tree', () => a.text.includes('shop') && b.text.includes('shop'));
  assert.equal(listenerCounts(), before, 'blessed installed process-wide handlers');

  broken = true;
  for (const fn of listeners) fn({ type: 'config-applied', repos: 1, keys: 1 });
  assert.equal(await doneA, 1);
  assert.match(a.text, /internal error \(id [0-9a-f]{8}\)\r\n$/);
  assert.ok(logged.some((l) => /ERROR .*internal error .*boom in a view/.test(l)), 'the failure is logged with its stack');
  assert.equal(listeners.size, 1, 'the failed dashboard unsubscribed from events');

  // The other one still answers keys and redraws on resize.
  const drawn = b.text.length;
  b.key('?');
  await until('the second dashboard drew its help', () => b.text.length > drawn && b.text.includes('keys'));
  b.ee.emit('resize', 100, 30);
  b.key('?'); // closes the help
  b.key('q');
  assert.equal(await doneB, 0);
  assert.equal(listeners.size, 0);
  assert.equal(listenerCounts(), before);
  assert.deepEqual(logged.filter((l) => /internal error/.test(l) && !/boom in a view/.test(l)), [], 'closing the last dashboard failed');
});

test('a dashboard refreshes every 10 s on the clock while used, once a minute after a minute without a key, and a key brings the 10 s back', async () => {
  const MINUTE = 1_800_000_000_000; // a multiple of 60 s
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: MINUTE + 5000 });
  try {
    const asked: string[] = [];
    const at = () => {
      const s = (Date.now() - MINUTE) / 1000;
      return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    };
    const ch = new FakeChannel();
    const done = runDashboard({
      channel: ch,
      cols: 80,
      rows: 24,
      user: 'alice',
      snapshot: () => {
        asked.push(`${at()} snapshot`);
        return snapshot();
      },
      retime: (s) => {
        asked.push(`${at()} retime`);
        return s;
      },
      subscribe: () => () => {},
      run: async () => 0,
      logs: () => () => {},
      log: logger('test'),
    });
    asked.length = 0; // the snapshots of opening
    const advance = (seconds: number) => {
      for (let i = 0; i < seconds; i++) mock.timers.tick(1000);
    };
    advance(180); // to 3:05
    assert.deepEqual(asked, ['0:10 retime', '0:20 retime', '0:30 retime', '0:40 retime', '0:50 retime', '1:00 snapshot', '1:10 retime', '2:00 snapshot', '3:00 snapshot']);
    asked.length = 0;
    ch.key('x'); // any key, at 3:05
    advance(80); // to 4:25; the 4:10 refresh is the first a minute after the key, so the next is at 5:00
    assert.deepEqual(asked, ['3:10 retime', '3:20 retime', '3:30 retime', '3:40 retime', '3:50 retime', '4:00 snapshot', '4:10 retime']);
    ch.key('q');
    assert.equal(await done, 0);
  } finally {
    mock.timers.reset();
  }
});
