/**
 * What a client sends (login name, version string) and what a key file says (its comment)
 * reaches the log escaped and capped: one line per event, no terminal escapes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startInstance, waitUntil, type Instance } from './helpers/instance.ts';
import { rawExecWith } from './helpers/raw-git.ts';

describe('hostile text in the log', () => {
  let inst: Instance;
  before(async () => {
    inst = await startInstance({ users: ['alice'] });
    // The key's comment: a fake log line, a screen-clearing escape and 2,000 more characters.
    const pub = path.join(inst.configDir, 'keys', 'alice.pub');
    const [algo, blob] = fs.readFileSync(pub, 'utf8').split(' ');
    fs.writeFileSync(pub, `${algo} ${blob} laptop\x1b[2J\x1b]0;pwned\x07${'c'.repeat(2000)}\n`);
    const from = inst.output.length;
    inst.proc!.kill('SIGHUP');
    await waitUntil('the config reload', () => inst.output.slice(from).includes('config reloaded'));
  });
  after(() => inst.stop());

  test('login name, client version and key comment are escaped and capped in the log line', async () => {
    const from = inst.output.length;
    const login = `root\n2026-01-01T00:00:00.000Z INFO  slipway.ssh: authenticated user=admin\x1b[31m${'u'.repeat(5000)}`;
    const r = await rawExecWith(inst, { username: login, privateKey: fs.readFileSync(inst.keys.alice!), ident: 'evil\x1b[2J\x7f' }, 'whoami');
    const out = r.stdout.toString();
    assert.match(out, /^user: alice/, 'the login name is not who you are');
    const line = await waitUntil('an authenticated log line', () => inst.output.slice(from).split('\n').find((l) => l.includes('authenticated')) ?? '');
    assert.doesNotMatch(inst.output.slice(from), /\x1b|\x07|\x7f/, 'no raw escape reaches the log');
    assert.doesNotMatch(inst.output.slice(from), /^2026-01-01T00:00:00\.000Z/m, 'the fake line did not become a line');
    assert.match(line, / login="root\\n2026-01-01T00:00:00\.000Z INFO  slipway\.ssh: authenticated user=admin\\x1b\[31mu+…\(\+\d+ chars\)"/);
    assert.match(line, / client=SSH-2\.0-evil\\x1b\[2J\\x7f/);
    assert.match(line, / key="laptop\\x1b\[2J\\x1b\]0;pwned\\x07c+…\(\+\d+ chars\)"/);
    assert.ok(line.length < 2000, `the line is capped (${line.length} characters)`);
  });
});
