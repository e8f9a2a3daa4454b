import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { allocatePorts } from '../../src/runners/ports.ts';

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A run of `n` consecutive ports that are free right now, so each test owns its range. */
async function freeRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const held: net.Server[] = [];
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      const s = net.createServer();
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(p, '127.0.0.1', () => resolve(true));
      });
      if (ok) held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error('no free port range for the test');
}

async function hold(port: number): Promise<void> {
  const s = net.createServer();
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
}

describe('allocatePorts', () => {
  test('gives the lowest ports of the range, skipping the used ones', async () => {
    const min = await freeRange(6);
    assert.deepEqual(await allocatePorts(3, { min, max: min + 6 }, new Set([min, min + 2])), [min + 1, min + 3, min + 4]);
  });

  test('skips ports that something else has bound', async () => {
    const min = await freeRange(4);
    await hold(min);
    await hold(min + 1);
    assert.deepEqual(await allocatePorts(1, { min, max: min + 4 }, new Set()), [min + 2]);
  });

  test('avoids ports it handed out moments ago, while others are free', async () => {
    const min = await freeRange(4);
    const range = { min, max: min + 4 };
    const [a, b] = await Promise.all([allocatePorts(2, range, new Set()), allocatePorts(2, range, new Set())]);
    assert.deepEqual([...a!, ...b!].sort((x, y) => x - y), [min, min + 1, min + 2, min + 3]);
    // The range holds nothing else: the recent ones are given again.
    assert.deepEqual(await allocatePorts(1, range, new Set([min + 1])), [min]);
  });

  test('a range without enough free ports is an error that says where to change it', async () => {
    const min = await freeRange(3);
    await hold(min + 1);
    await assert.rejects(allocatePorts(1, { min, max: min + 3 }, new Set([min, min + 2])), {
      message: `no free port in ${min}-${min + 2} (ports in slipway.yml)`,
    });
    await assert.rejects(allocatePorts(3, { min, max: min + 3 }, new Set()), {
      message: `no free port in ${min}-${min + 2} (ports in slipway.yml): 3 needed, 2 free`,
    });
  });
});
