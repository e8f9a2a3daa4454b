import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { watchConfigDir } from '../../src/config/watch.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await sleep(20);
  }
}

test('a burst of changes in the config dir is one call after it settles; a folder made later is watched too', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-watch-'));
  fs.mkdirSync(path.join(dir, 'repos'));
  let calls = 0;
  const stop = watchConfigDir(dir, () => calls++, 100);
  try {
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, 'repos', `r${i}.yml`), 'branches: {}\n');
    fs.writeFileSync(path.join(dir, 'slipway.yml'), '');
    await until('one call', () => calls === 1);
    await sleep(300);
    assert.equal(calls, 1, 'the burst is one call');

    fs.mkdirSync(path.join(dir, 'keys'));
    await until('a call for the new folder', () => calls === 2);
    fs.writeFileSync(path.join(dir, 'keys', 'bob.pub'), 'x\n');
    await until('a call for a file in it', () => calls === 3);

    fs.rmSync(path.join(dir, 'keys'), { recursive: true });
    await until('a call for the removed folder', () => calls === 4);
    fs.mkdirSync(path.join(dir, 'keys'));
    await until('a call for it made again', () => calls === 5);
    fs.writeFileSync(path.join(dir, 'keys', 'carol.pub'), 'x\n');
    await until('a call for a file in the new folder', () => calls === 6);
  } finally {
    stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
