/**
 * The gateway's files are out of other users' reach: the data dir's folders are closed at
 * start, `init` writes a private config, and `serve` warns about a config dir others can read or
 * write (it holds the apps' env and decides who logs in).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { run, ROOT, startInstance, tempDir, type Instance } from './helpers/instance.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

function mode(p: string): string {
  return (fs.statSync(p).mode & 0o777).toString(8).padStart(4, '0');
}

describe('private files', () => {
  const started: Instance[] = [];
  after(async () => {
    for (const i of started) await i.stop();
  });

  test('the data dir: git repos, state, logs and host keys are 0700', async () => {
    const inst = await startInstance();
    started.push(inst);
    for (const d of ['repos', 'state', 'logs', 'hostkeys']) assert.equal(mode(path.join(inst.dataDir, d)), '0700', d);
    // As root, app users pass through the data dir by name (0711), never list it.
    assert.equal(mode(inst.dataDir), asRoot ? '0711' : '0700');
  });

  test('a config dir others can write is named at start, with the fix', async () => {
    const inst = await startInstance();
    started.push(inst);
    await inst.stop();
    const keys = path.join(inst.configDir, 'keys');
    fs.chmodSync(keys, 0o777);
    inst.output = '';
    await inst.start();
    assert.match(inst.output, new RegExp(`${keys} can be written by its group and all users \\(mode 0777\\): anyone who can add a file there can add a key; chmod go-w ${keys}`));
  });

  test('as an ordinary user: the data dir is 0700 and a readable config dir is warned about', { skip: !asRoot && !process.env.CI && 'starts the gateway as nobody, which needs root (CI runs as root)' }, async () => {
    const inst = await startInstance({ asUid: NOBODY, slipwayYml: 'isolation: none\n' });
    started.push(inst);
    assert.equal(mode(inst.dataDir), '0700');
    for (const d of ['repos', 'state', 'logs', 'hostkeys']) assert.equal(mode(path.join(inst.dataDir, d)), '0700', d);
    assert.equal(mode(inst.configDir), '0755', 'not root: slipway warns but does not change the mode');
    assert.match(inst.output, /config can be read by its group and all users \(mode 0755\): it holds the apps' env \(secrets\); chmod 700 /);
  });

  test('init writes the config private: folders 0700, files 0600', async () => {
    const dir = tempDir();
    const r = await run(process.execPath, [path.join(ROOT, 'bin/slipway.js'), 'init', 'cfg'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const cfg = path.join(dir, 'cfg');
    assert.equal(mode(cfg), '0700');
    assert.equal(mode(path.join(cfg, 'slipway.yml')), '0600');
    assert.equal(mode(path.join(cfg, 'repos')), '0700');
    for (const f of fs.readdirSync(path.join(cfg, 'repos'))) assert.equal(mode(path.join(cfg, 'repos', f)), '0600', f);
  });
});
