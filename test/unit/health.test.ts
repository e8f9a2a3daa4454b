import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { waitHealthy } from '../../src/runners/health.ts';

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function listen<T extends net.Server>(server: T): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

const alive = () => true;

describe('waitHealthy', () => {
  test('a port accepting TCP connections is healthy', async () => {
    const port = await listen(net.createServer((c) => c.end()));
    assert.deepEqual(await waitHealthy([{ port }], { timeoutMs: 5000, alive }), { ok: true });
  });

  test('a port that starts listening a little later becomes healthy', async () => {
    const port = await closedPort();
    setTimeout(() => {
      const server = net.createServer((c) => c.end());
      servers.push(server);
      server.listen(port, '127.0.0.1');
    }, 150);
    assert.deepEqual(await waitHealthy([{ port }], { timeoutMs: 10_000, alive }), { ok: true });
  });

  test('a closed port times out with the port in the reason', async () => {
    const port = await closedPort();
    assert.deepEqual(await waitHealthy([{ port }], { timeoutMs: 300, alive }), {
      ok: false,
      reason: `port ${port} not accepting connections after 0.3 s`,
      pending: [{ port }],
    });
  });

  test('with a path, an HTTP 200 answer is healthy', async () => {
    const paths: string[] = [];
    const port = await listen(http.createServer((req, res) => (paths.push(req.url!), res.end('ok'))));
    assert.deepEqual(await waitHealthy([{ port, path: '/health' }], { timeoutMs: 5000, alive }), { ok: true });
    assert.deepEqual(paths, ['/health']);
  });

  test('with a path, a 503 answer is unhealthy until the timeout, which names the status', async () => {
    const port = await listen(http.createServer((_req, res) => ((res.statusCode = 503), res.end())));
    assert.deepEqual(await waitHealthy([{ port, path: '/health' }], { timeoutMs: 300, alive }), {
      ok: false,
      reason: `GET /health on port ${port} answered 503 after 0.3 s`,
      pending: [{ port, path: '/health' }],
    });
  });

  test('every target must be healthy', async () => {
    const good = await listen(net.createServer((c) => c.end()));
    const bad = await closedPort();
    const r = await waitHealthy([{ port: good }, { port: bad }], { timeoutMs: 300, alive });
    assert.deepEqual(r, { ok: false, reason: `port ${bad} not accepting connections after 0.3 s`, pending: [{ port: bad }] });
  });

  test('while a target keeps it waiting, progress comes after 1 s and then every 5 s, naming what is pending and why', async () => {
    const good = await listen(net.createServer((c) => c.end()));
    const bad = await closedPort();
    const notes: { names: (string | undefined)[]; problem: string; elapsedMs: number }[] = [];
    const r = await waitHealthy([{ port: good, name: 'web.0' }, { port: bad, name: 'web.1' }], {
      timeoutMs: 5600,
      alive,
      onProgress: (pending, elapsedMs) => notes.push({ names: pending.map((p) => p.target.name), problem: pending[0]!.problem, elapsedMs }),
    });
    assert.equal(r.ok, false);
    assert.deepEqual(notes.map((n) => [n.names, n.problem]), [
      [['web.1'], `port ${bad} not accepting connections`],
      [['web.1'], `port ${bad} not accepting connections`],
    ]);
    assert.ok(notes[0]!.elapsedMs >= 1000 && notes[1]!.elapsedMs >= 5000, JSON.stringify(notes));
  });

  test('a process that exits fails the check at once, with how it exited', async () => {
    const port = await closedPort();
    let up = true;
    setTimeout(() => (up = false), 100);
    const r = await waitHealthy([{ port }], { timeoutMs: 30_000, alive: () => up, exitDetail: () => 'code 3' });
    assert.deepEqual(r, { ok: false, reason: 'process exited during health check (code 3)' });
  });
});
