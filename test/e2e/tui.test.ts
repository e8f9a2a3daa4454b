/**
 * The dashboard over `ssh -t`, through the real OpenSSH client in a real terminal (tmux): the
 * tree and its states, live updates from a push, an action with its confirmation, what a read-only
 * user is offered, a resize to 80x24, quitting, and one dashboard going away without touching
 * another.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commitApp, httpGet, newMarker, portRange, status, stopAll } from './helpers/deploy.ts';
import { assertNoStackTrace, startInstance, type Instance } from './helpers/instance.ts';
import { rowWith, Terminal } from './helpers/tui.ts';

const marker = newMarker();
const ports = portRange();

const REPO = `branches:
  main:
    runners:
      web: {type: NginxBackend, cmd: node server.js, healthcheck: {path: /health, timeout: 5}}
      worker: {type: SimpleProcess, cmd: node worker.js}
    env: {SLIPWAY_TEST_ID: ${marker}}
    custom_cmds:
      hello: "echo hello from $SLIPWAY_RELEASE"
  staging: {}
`;

const USERS = `users:
  alice: admin
  intern: {read: [shop]}
ports: {min: ${ports.min}, max: ${ports.max}}
`;

describe('the dashboard over ssh -t', () => {
  let inst: Instance;
  let work: string;
  const terms: Terminal[] = [];
  const open = (user: string, cols?: number, rows?: number) => {
    const t = new Terminal(inst, user, cols, rows);
    terms.push(t);
    return t;
  };
  const push = async (version: string) => {
    await commitApp(work, inst, version);
    const r = await inst.git(['push', `${inst.url}/shop`, 'main'], { cwd: work, user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    inst = await startInstance({ slipwayYml: USERS, repos: { shop: REPO }, users: ['alice', 'intern'] });
    work = `${inst.root}/work`;
    await push('1');
  });
  after(async () => {
    for (const t of terms) t.close();
    await stopAll(inst, marker);
  });

  test('it opens on the tree: header with user and role, repos, branches with their release, runners with state badges, the first runner selected', async () => {
    const t = open('alice');
    const screen = await t.waitFor(/running 1\/1[\s\S]*running 1\/1/, 'both runners running');
    assert.match(rowWith(screen, 'slipway 0.1.0'), /alice \(admin\)\s+config applied/);
    assert.match(rowWith(screen, 'shop'), /- shop/);
    assert.match(rowWith(screen, ' main '), /main\s+r1 [0-9a-f]{7} <1m/);
    assert.match(rowWith(screen, 'worker'), /worker\s+running 1\/1/);
    assert.match(rowWith(screen, 'staging'), /staging\s+not deployed/);
    // The first runner is selected, so the details and the log pane are about web.
    assert.match(screen, /shop\/main web \(NginxBackend, 1 process\)/);
    assert.match(screen, /logs shop\/main web \(following\)/);
    const web = (await status(inst, 'alice', 'shop', 'main')).processes.find((p) => p.runner === 'web')!;
    assert.match(rowWith(screen, 'web.0'), new RegExp(`web\\.0\\s+${web.pid}\\s+${web.port}\\s+up <1m\\s+0`));
    assert.match(screen, /\* r1\s+[0-9a-f]{7}\s+<1m ago\s+ok\s+by alice/);
    assert.match(rowWith(screen, 'q quit'), /r restart {2}b rebuild/);
    t.keys('q');
    await t.waitFor(/\[ssh exited 0\]/, 'ssh to end after q');
  });

  test('the log pane follows the selected runner live; & keeps matching lines; l shows it full-screen', async () => {
    const t = open('alice');
    await t.waitFor(/logs shop\/main web \(following\)[\s\S]*web\.0 \| listening on/, 'the web log tail');
    const web = (await status(inst, 'alice', 'shop', 'main')).processes.find((p) => p.runner === 'web')!;
    const probe = `/probe-${Date.now()}`;
    assert.equal((await httpGet(web.port!, probe)).status, 200);
    await t.waitFor(new RegExp(`web\\.0 \\| request GET ${probe}`), 'the request in the log pane', 1500);
    t.keys('&');
    t.type('probe-');
    t.keys('Enter');
    const searched = await t.waitFor(/logs shop\/main web \(following\)\s+&probe- /, 'the filter in the pane label');
    const paneRows = searched.split('\n').filter((r) => / \| /.test(r));
    assert.ok(paneRows.length > 0 && paneRows.every((r) => r.includes('probe-')), `lines without the term:\n${searched}`);
    t.keys('Escape');
    t.keys('l');
    // The header's line, then the log's border: the normal layout has the log pane lower down.
    const full = await t.waitFor(/^[^\n]*\n┌─ logs shop\/main web/, 'the full-screen log right under the header');
    assert.doesNotMatch(full, /┌─ apps/);
    t.keys('q');
    await t.waitFor(/\[ssh exited 0\]/, 'ssh to end');
  });

  test('/ searches the log; n and N move to the next and previous matching line, scrolling the log there', async () => {
    const t = open('alice');
    await t.waitFor(/logs shop\/main web \(following\)[\s\S]*web\.0 \| listening on/, 'the web log tail');
    const web = (await status(inst, 'alice', 'shop', 'main')).processes.find((p) => p.runner === 'web')!;
    // Two matching lines with more lines between them than the pane has rows (9 at 100x30).
    const stamp = `needle${Date.now()}`;
    for (const path of [`${stamp}-a`, ...Array.from({ length: 20 }, (_, i) => `hay-${i}`), `${stamp}-b`, ...Array.from({ length: 20 }, (_, i) => `hay-after-${i}`)]) {
      assert.equal((await httpGet(web.port!, `/${path}`)).status, 200);
    }
    await t.waitFor(/request GET \/hay-after-19/, 'the last request in the log pane');
    t.keys('/');
    t.type(stamp);
    t.keys('Enter');
    let screen = await t.waitFor(new RegExp(`logs shop/main web \\(paused, \\d+ newer\\)\\s+/${stamp} 2/2 `), 'the search at its newest match');
    assert.match(screen, new RegExp(`request GET /${stamp}-b`));
    assert.doesNotMatch(screen, new RegExp(`${stamp}-a`));
    assert.match(rowWith(screen, 'q quit'), /n N next\/prev/);
    t.keys('N');
    screen = await t.waitFor(new RegExp(`/${stamp} 1/2 `), 'N to the earlier match');
    assert.match(screen, new RegExp(`request GET /${stamp}-a`));
    assert.doesNotMatch(screen, new RegExp(`${stamp}-b`), 'the log did not scroll to the earlier match');
    t.keys('N');
    await t.waitFor(new RegExp(`no earlier line with '${stamp}'`), 'the footer saying there is none before');
    t.keys('n');
    screen = await t.waitFor(new RegExp(`/${stamp} 2/2 `), 'n back to the later match');
    assert.match(screen, new RegExp(`request GET /${stamp}-b`));
    assert.doesNotMatch(screen, new RegExp(`${stamp}-a`));
    t.keys('q');
    await t.waitFor(/\[ssh exited 0\]/, 'ssh to end');
  });

  test('at 80x24, : jumps to a repo, branch or runner by prefix, Tab completes, an unknown name says so; ? lists : and n N', async () => {
    const t = open('alice', 80, 24);
    await t.waitFor(/worker\s+running 1\/1/, 'the dashboard');
    t.keys(':');
    t.type('shop/st');
    await t.waitFor(/^:shop\/staging\s*$/m, 'the completion after what was typed');
    t.keys('Tab');
    t.type('x');
    await t.waitFor(/^:shop\/stagingx\s*$/m, 'Tab took the completion');
    t.keys('BSpace');
    t.keys('Enter');
    let screen = await t.waitFor(/logs shop\/staging \(following\)/, 'staging selected, its log in the pane');
    assert.match(rowWith(screen, 'releases: none yet'), /releases: none yet/);
    t.keys(':');
    t.type('shop/main/wo');
    t.keys('Enter');
    await t.waitFor(/logs shop\/main worker \(following\)/, 'the worker selected by a prefix');
    // Collapsed rows open to show what was jumped to.
    t.keys('k', 'k', 'k', 'Enter');
    await t.waitFor(/\+ shop/, 'shop collapsed');
    t.keys(':');
    t.type('shop/main/we');
    t.keys('Enter');
    screen = await t.waitFor(/logs shop\/main web \(following\)/, 'web selected inside the collapsed repo');
    assert.match(screen, /- shop/);
    t.keys(':');
    t.type('nope');
    t.keys('Enter');
    await t.waitFor(/no repo, branch or runner 'nope'/, 'the footer saying nope names nothing');
    t.keys(':');
    t.type('shop');
    t.keys('Escape');
    screen = await t.waitFor(/q quit\s*$/, 'the keys back in the footer after Esc');
    assert.match(screen, /logs shop\/main web/, 'Esc jumped somewhere');
    t.keys('?');
    const help = await t.waitFor(/keys[\s\S]*quit \(also Ctrl-C\)/, 'the help');
    assert.match(help, /:\s+jump to repo\[\/branch\[\/runner\]\], Tab completes/);
    assert.match(help, /n N\s+next \/ previous match of the \/ search/);
    assert.match(help, /c\s+command \(asks first\)/, 'the last line of the help is cut off at 80x24');
  });

  test('a push while it is open shows the new release and its events without a key press', async () => {
    const t = open('alice');
    await t.waitFor(/main\s+r1 /, 'the first release');
    await push('2');
    await t.waitFor(/main\s+r2 [0-9a-f]{7}/, 'the second release in the tree', 5000);
    const screen = await t.waitFor(/slipway \| deploy r2 finished/, 'the finished deploy in the log pane', 2000);
    assert.match(screen, /slipway \| deploy r2: Switch/);
    assert.match(screen, /\* r2 +[0-9a-f]{7} .* by alice {2}version 2/);
    t.keys('C-c');
    await t.waitFor(/\[ssh exited 0\]/, 'ssh to end after Ctrl-C');
  });

  test('restart asks first; n leaves everything running, y restarts through the service and shows its output', async () => {
    const before = (await status(inst, 'alice', 'shop', 'main')).processes.find((p) => p.runner === 'worker')!;
    const t = open('alice');
    await t.waitFor(/worker\s+running 1\/1/, 'the worker');
    t.keys('j');
    await t.waitFor(/logs shop\/main worker/, 'the worker selected');
    t.keys('r');
    await t.waitFor(/restart shop\/main\?[\s\S]*y: yes/, 'the confirmation');
    t.keys('n');
    await t.waitFor(/^(?![\s\S]*restart shop\/main\?)/, 'the confirmation gone');
    assert.equal((await status(inst, 'alice', 'shop', 'main')).processes.find((p) => p.runner === 'worker')!.pid, before.pid, 'n restarted something');
    t.keys('r');
    await t.waitFor(/restart shop\/main\?/, 'the confirmation again');
    t.keys('y');
    const screen = await t.waitFor(/restarted 2 processes of r2[\s\S]*done; Enter or Esc closes this/, 'the restart output', 20_000);
    assert.match(screen, /restart shop\/main/);
    const afterRestart = (await status(inst, 'alice', 'shop', 'main')).processes.find((p) => p.runner === 'worker')!;
    assert.notEqual(afterRestart.pid, before.pid, 'the worker was not restarted');
    // Audited like the ssh command, as done from the dashboard; the refused n left no entry.
    const audit = fs.readFileSync(path.join(inst.dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const restarts = audit.filter((e) => e.action === 'restart');
    assert.equal(restarts.length, 1, JSON.stringify(audit));
    assert.equal(restarts[0]!.via, 'tui');
    assert.equal(restarts[0]!.user, 'alice');
    assert.equal(restarts[0]!.result, 'ok');
    assert.match(String(restarts[0]!.fingerprint), /^SHA256:/);
    t.keys('Enter');
    await t.waitFor(new RegExp(`worker\\.0\\s+${afterRestart.pid}\\s`), 'the new pid in the details');
  });

  test('rollback offers the kept releases and brings the chosen one back after confirmation', async () => {
    const t = open('alice');
    const screen = await t.waitFor(/main\s+r2 [\s\S]* r1 +[0-9a-f]{7} /, 'the current release and r1');
    const r1 = / r1 +([0-9a-f]{7}) /.exec(screen)![1]!;
    t.keys('R');
    await t.waitFor(new RegExp(`rollback shop/main to[\\s\\S]*r1 +${r1} +by alice`), 'the release list');
    t.keys('Enter');
    await t.waitFor(new RegExp(`roll shop/main back to r1 \\(${r1}\\)\\?`), 'the confirmation');
    t.keys('y');
    await t.waitFor(/done; Enter or Esc closes this/, 'the rollback to finish', 30_000);
    t.keys('Escape');
    // The rollback is a release of its own, running r1's commit.
    await t.waitFor(new RegExp(`main\\s+r3 ${r1}[\\s\\S]*\\* r3 +${r1} .*rollback to r1`), 'r3 (r1 brought back) current in tree and details');
  });

  test('a read-only user sees the tree but is offered no action, and the action keys do nothing', async () => {
    const t = open('intern');
    const screen = await t.waitFor(/intern \(read: shop\)[\s\S]*running 1\/1/, 'the reader dashboard');
    const footer = rowWith(screen, 'q quit');
    assert.doesNotMatch(footer, /restart|rebuild|rollback|command/);
    t.keys('r');
    t.keys('R');
    t.keys('c');
    t.keys('?');
    const help = await t.waitFor(/keys[\s\S]*Ctrl-C/, 'the help');
    assert.doesNotMatch(help, /restart|rebuild|rollback|confirm/);
  });

  test('a resize to 80x24 redraws the whole dashboard inside the new size', async () => {
    const t = open('alice', 120, 40);
    await t.waitFor(/worker\s+running 1\/1/, 'the dashboard at 120x40');
    t.resize(80, 24);
    await waitForSize(t, 80, 24);
    const screen = await t.waitFor(/q quit\s*$/, 'the footer on the last row of 24');
    const rows = screen.replace(/\n$/, '').split('\n');
    assert.equal(rows.length, 24);
    assert.ok(rows.every((r) => [...r].length <= 80), 'a row wider than 80 columns');
    assert.match(rows[0]!, /slipway 0\.1\.0/);
    assert.match(screen, /worker\s+running 1\/1/);
    assert.match(rows[23]!, /q quit/);
  });

  test('one dashboard killed mid-session leaves the gateway and another dashboard live', async () => {
    const a = open('alice');
    const b = open('alice');
    await a.waitFor(/running 1\/1/, 'dashboard a');
    await b.waitFor(/running 1\/1/, 'dashboard b');
    a.close(); // tmux kills the ssh client: the channel drops without a goodbye
    await push('3');
    await b.waitFor(/main\s+r\d+ [0-9a-f]{7}[\s\S]*slipway \| deploy r\d+ finished/, 'dashboard b to see the push', 10_000);
    const r = await inst.ssh('alice', ['status', 'shop', 'main']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(inst.proc && inst.proc.exitCode === null, 'the gateway is still running');
    assertNoStackTrace(inst);
  });

  test('a refused config reload shows in the header without a key press, and the fix clears it', async () => {
    const t = open('alice');
    await t.waitFor(/alice \(admin\)\s+config applied/, 'the header');
    const file = path.join(inst.configDir, 'repos', 'shop.yml');
    const good = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, 'branches: [unclosed\n');
    try {
      const r = await inst.ssh('alice', ['reload']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      await t.waitFor(/config on disk refused: repos\/shop\.yml/, 'the refusal in the header', 2000);
    } finally {
      fs.writeFileSync(file, good);
    }
    assert.equal((await inst.ssh('alice', ['reload'])).code, 0);
    await t.waitFor(/alice \(admin\)\s+config applied/, 'the header after the fix', 2000);
  });

  test('without a pty, a session with no command prints the help', async () => {
    const r = await inst.ssh('alice', [], ['-T']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Commands \(ssh <host> <command>/m);
  });
});

async function waitForSize(t: Terminal, cols: number, rows: number): Promise<void> {
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    const s = t.size();
    if (s.cols === cols && s.rows === rows) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`the terminal did not become ${cols}x${rows}`);
}
