import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PENALTY_ENFORCED_ABOVE_MS, PreauthBudget, sourceOf, type PreauthLimits } from '../../src/ssh/preauth.ts';

const limits: PreauthLimits = { maxUnauthenticated: 4, maxUnauthenticatedPerSource: 2, penaltyMs: 5000, penaltyMaxMs: 60_000 };

test('one source gets at most its share of unauthenticated connections; settling frees a slot', () => {
  const b = new PreauthBudget<string>(() => limits);
  assert.equal(b.admit('a1', '10.0.0.1', 0).admitted, true);
  assert.equal(b.admit('a2', '10.0.0.1', 0).admitted, true);
  assert.deepEqual(b.admit('a3', '10.0.0.1', 0), { admitted: false, source: '10.0.0.1', reason: 'per-source' });
  assert.equal(b.admit('b1', '10.0.0.2', 0).admitted, true, 'another source still gets in');
  b.settle('a1');
  b.settle('a1'); // twice is harmless
  assert.equal(b.admit('a4', '10.0.0.1', 0).admitted, true);
  assert.equal(b.unauthenticated, 3);
});

test('when the overall cap is reached, the oldest unauthenticated connection makes room', () => {
  const b = new PreauthBudget<string>(() => limits);
  for (const [c, ip] of [['x1', '10.0.0.1'], ['x2', '10.0.0.2'], ['x3', '10.0.0.3'], ['x4', '10.0.0.4']]) b.admit(c!, ip!, 0);
  b.settle('x1'); // logged in: no longer counted, so not a candidate
  b.admit('x5', '10.0.0.5', 0);
  assert.deepEqual(b.admit('new', '10.0.0.9', 0), { admitted: true, source: '10.0.0.9', evicted: 'x2' });
  assert.equal(b.unauthenticated, 4);
  assert.equal(b.admit('again', '10.0.0.2', 0).admitted, true, "the evicted connection's source slot was freed");
});

test('a source is refused once its failures add up to more than 15 s, and again after the penalty ends', () => {
  const b = new PreauthBudget<string>(() => limits);
  const src = '192.0.2.7';
  assert.equal(b.penalize(src, 0), false);
  assert.equal(b.penalize(src, 0), false);
  assert.equal(b.penalize(src, 0), false); // 15 s: not above the threshold
  assert.equal(b.admit('c1', src, 0).admitted, true);
  b.settle('c1');
  assert.equal(b.penalize(src, 0), true, 'the fourth failure makes it refused');
  assert.deepEqual(b.admit('c2', src, 0), { admitted: false, source: src, reason: 'penalized' });
  assert.equal(b.admit('c3', '192.0.2.8', 0).admitted, true, 'other sources are not affected');
  // 20 s of penalty: from 5 s on, only 15 remain, which is no longer enforced.
  assert.equal(b.admit('c4', src, 5001).admitted, true);
});

test('the machine itself (127.0.0.1, ::1) earns no penalty', () => {
  const b = new PreauthBudget<string>(() => limits);
  for (const src of ['127.0.0.1', '::1']) {
    for (let i = 0; i < 10; i++) b.penalize(src, 0);
    assert.equal(b.remainingPenalty(src, 0), 0);
    assert.equal(b.admit(`c-${src}`, src, 0).admitted, true);
  }
  b.penalize('127.0.0.2', 0);
  assert.equal(b.remainingPenalty('127.0.0.2', 0), 5000, 'other loopback addresses do');
});

test('penalties grow with each failure up to penalty_max', () => {
  const b = new PreauthBudget<string>(() => limits);
  for (let i = 0; i < 100; i++) b.penalize('192.0.2.1', 0);
  assert.equal(b.remainingPenalty('192.0.2.1', 0), 60_000);
  assert.equal(b.remainingPenalty('192.0.2.1', 60_000 - PENALTY_ENFORCED_ABOVE_MS), PENALTY_ENFORCED_ABOVE_MS);
});

test('sources: IPv4 addresses (also IPv4-mapped IPv6), and IPv6 by /64', () => {
  assert.equal(sourceOf('203.0.113.5'), '203.0.113.5');
  assert.equal(sourceOf('::ffff:203.0.113.5'), '203.0.113.5');
  assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(sourceOf('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(sourceOf('::1'), '::1');
});
