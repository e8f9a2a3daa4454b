/**
 * The dashboard's view models, without a terminal: header, tree and badges, details, the keys a
 * role is offered, and the log pane's scroll-back and search.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jumpCompletion, jumpMatch, jumpTargets } from '../../src/tui/jump.ts';
import { keyCommand } from '../../src/tui/keymap.ts';
import { LogView, cleanLine } from '../../src/tui/log-view.ts';
import { helpLines } from '../../src/tui/overlays.ts';
import { logState, promptText } from '../../src/tui/pane-text.ts';
import { promptKey } from '../../src/tui/prompt.ts';
import { actionKeys, age, detailLines, footer, header, initialSelection, nodeKey, runnerBadge, treeRows, type BranchInfo, type Snapshot } from '../../src/tui/model.ts';

const NOW = 1_800_000_000_000;
const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

function branch(over: Partial<BranchInfo> = {}): BranchInfo {
  return {
    repo: 'shop',
    branch: 'main',
    runners: [
      { name: 'web', type: 'NginxBackend', count: 2 },
      { name: 'worker', type: 'SimpleProcess', count: 1 },
    ],
    releases: [
      { id: 'r1', commit: '1'.repeat(40), user: 'bob', time: NOW - 3 * 86_400_000, durationMs: 900 },
      { id: 'r2', commit: SHA, user: 'alice', time: NOW - 5 * 60_000, durationMs: 1200 },
    ],
    current: 'r2',
    activity: null,
    lastDeploy: null,
    processes: [
      { runner: 'web', index: 0, release: 'r2', state: 'running', pid: 101, port: 61000, startedAt: NOW - 300_000, restarts: 0, cpuPercent: 1.25, rssBytes: 42 * 1048576 },
      { runner: 'web', index: 1, release: 'r2', state: 'running', pid: 102, port: 61001, startedAt: NOW - 300_000, restarts: 2 },
      { runner: 'worker', index: 0, release: 'r2', state: 'running', pid: 103, startedAt: NOW - 10_000, restarts: 0 },
    ],
    mayOperate: true,
    customCmds: ['migrate'],
    ...over,
  };
}

function snap(branches: BranchInfo[], over: Partial<Snapshot> = {}): Snapshot {
  return { host: 'box', user: 'alice', role: 'admin', version: '0.1.0', config: { applied: true }, branches, now: NOW, ...over };
}

test('ages read as the shortest unit that fits', () => {
  assert.deepEqual([age(4_000), age(59_999), age(125_000), age(3 * 3_600_000 + 5), age(2 * 86_400_000)], ['<1m', '<1m', '2m', '3h', '2d']);
});

test('the header names host, user and role, version, and a refused config with its first problem', () => {
  assert.equal(header(snap([])).text, 'slipway 0.1.0  box  alice (admin)  config applied');
  const refused = header(snap([], { config: { applied: false, problems: ['repos/x.yml: branches: expected a mapping', 'keys/y.pub: bad key'] } }));
  assert.equal(refused.tone, 'bad');
  assert.match(refused.text, /config on disk refused: repos\/x\.yml: branches: expected a mapping \(\+1 more\)$/);
});

test('runner badges: running n/m, restarting, crashed, deploying, stopped, never deployed', () => {
  const b = branch();
  const [web, worker] = b.runners as [BranchInfo['runners'][0], BranchInfo['runners'][0]];
  assert.deepEqual(runnerBadge(b, web), { text: 'running 2/2', tone: 'ok' });
  const one = branch({ processes: b.processes.map((p) => (p.index === 1 ? { ...p, state: 'backoff' as const } : p)) });
  assert.equal(runnerBadge(one, web).text, 'restarting');
  const loop = branch({ processes: b.processes.map((p) => (p.runner === 'worker' ? { ...p, state: 'crash-loop' as const } : p)) });
  assert.deepEqual(runnerBadge(loop, worker), { text: 'crashed', tone: 'bad' });
  assert.equal(runnerBadge(branch({ activity: { what: 'deploy', user: 'bob', started: NOW } }), web).text, 'deploying');
  assert.equal(runnerBadge(branch({ current: null }), web).text, 'stopped');
  assert.equal(runnerBadge(branch({ current: null, releases: [], processes: [] }), web).text, 'never deployed');
  // Processes of an older release (draining) do not count for the current one.
  const old = branch({ processes: b.processes.map((p) => ({ ...p, release: 'r1' })) });
  assert.deepEqual(runnerBadge(old, web), { text: 'stopped', tone: 'bad' });
});

test('the tree lists repos, branches with their release, runners with badges; collapsing hides children; the first runner is selected', () => {
  const s = snap([branch(), branch({ branch: 'staging', current: null, releases: [], processes: [] }), branch({ repo: 'blog', runners: [] })]);
  const rows = treeRows(s, new Set());
  assert.deepEqual(
    rows.map((r) => `${'  '.repeat(r.depth)}${r.label}${r.badge ? ` [${r.badge.text}]` : ''}`),
    ['shop', '  main  r2 a1b2c3d 5m', '    web [running 2/2]', '    worker [running 1/1]', '  staging  not deployed', '    web [never deployed]', '    worker [never deployed]', 'blog', '  main  r2 a1b2c3d 5m'],
  );
  assert.equal(initialSelection(rows), nodeKey('shop', 'main', 'web'));
  const folded = treeRows(s, new Set([nodeKey('shop', 'main'), nodeKey('blog')]));
  assert.deepEqual(
    folded.map((r) => r.label),
    ['shop', 'main  r2 a1b2c3d 5m', 'staging  not deployed', 'web', 'worker', 'blog'],
  );
});

test('details of a runner: its processes with pid, port, uptime, restarts, CPU and memory; the last releases with who', () => {
  const s = snap([branch({ lastDeploy: { release: 'r3', ok: false, error: 'build exited 3', at: NOW - 20_000 } })]);
  const row = treeRows(s, new Set()).find((r) => r.runner === 'web');
  const text = detailLines(s, row).join('\n');
  assert.match(text, /^shop\/main web \(NginxBackend, 2 processes\)$/m);
  assert.match(text, /last deploy r3: failed \(build exited 3\) <1m ago/);
  assert.match(text, /web\.0\s+101\s+61000\s+up 5m\s+0\s+1\.3%\s+42\.0M/);
  assert.match(text, /web\.1\s+102\s+61001\s+up 5m\s+2\s+-\s+-/);
  assert.doesNotMatch(text, /worker\.0/);
  assert.match(text, /\* r2\s+a1b2c3d\s+5m ago\s+ok\s+by alice/);
  assert.match(text, /  r1\s+1111111\s+3d ago\s+ok\s+by bob/);
});

test('action keys follow the access decision: none for a reader, rollback only with an earlier release', () => {
  const row = (s: Snapshot) => treeRows(s, new Set()).find((r) => r.runner === 'web');
  const admin = snap([branch()]);
  assert.deepEqual(actionKeys(admin, row(admin)).map((k) => k.key), ['r', 'b', 'R', 'c']);
  const reader = snap([branch({ mayOperate: false })]);
  assert.deepEqual(actionKeys(reader, row(reader)), []);
  assert.doesNotMatch(footer(actionKeys(reader, row(reader))), /restart|rebuild|rollback/);
  const single = snap([branch({ releases: branch().releases.slice(1), customCmds: [] })]);
  assert.deepEqual(actionKeys(single, row(single)).map((k) => k.key), ['r', 'b']);
  assert.deepEqual(actionKeys(admin, treeRows(admin, new Set())[0]), [], 'a repo row offers no branch action');
});

test('the log pane follows the end, holds its place when scrolled back, and a filter keeps matching lines', () => {
  const v = new LogView(100);
  for (let i = 0; i < 20; i++) v.add(`web.0 | line ${i}`);
  assert.deepEqual(v.window(3).lines, ['web.0 | line 17', 'web.0 | line 18', 'web.0 | line 19']);
  v.scroll(-5, 3);
  assert.equal(v.follow, false);
  assert.deepEqual(v.window(3).lines, ['web.0 | line 12', 'web.0 | line 13', 'web.0 | line 14']);
  v.add('web.0 | line 20');
  assert.deepEqual(v.window(3).lines, ['web.0 | line 12', 'web.0 | line 13', 'web.0 | line 14'], 'a new line does not move a held window');
  v.toEnd();
  assert.deepEqual(v.window(1).lines, ['web.0 | line 20']);
  v.setFilter('LINE 1');
  assert.deepEqual(v.window(20).lines.length, 11);
  v.scroll(-1000, 5);
  assert.deepEqual(v.window(5).lines[0], 'web.0 | line 1');
  for (let i = 0; i < 200; i++) v.add('more');
  assert.equal(new LogView(10).window(5).total, 0);
});

test('a / search starts at the bottom of the window and goes up; n and N step between matches and scroll there', () => {
  const v = new LogView(100);
  // needle at lines 5, 40 and 80 of 100; a window of 10 rows, following the end
  for (let i = 0; i < 100; i++) v.add(i === 5 || i === 40 || i === 80 ? `web.0 | needle ${i}` : `web.0 | hay ${i}`);
  assert.equal(v.search('NEEDLE', 10), true);
  let w = v.window(10);
  assert.deepEqual(w.match, { at: 3, of: 3 });
  assert.equal(w.lines[w.current!], 'web.0 | needle 80');
  assert.equal(v.follow, false, 'scrolled back to the match');
  assert.equal(v.next(-1, 10), true);
  w = v.window(10);
  assert.equal(w.lines[w.current!], 'web.0 | needle 40');
  assert.deepEqual(w.match, { at: 2, of: 3 });
  assert.ok(!w.lines.some((l) => l.includes('needle 80')), 'the window moved to the match');
  assert.equal(v.next(-1, 10), true);
  w = v.window(10);
  assert.equal(w.lines[w.current!], 'web.0 | needle 5');
  assert.equal(w.lines[0], 'web.0 | hay 1', 'a match moved to is in the middle of the window');
  assert.equal(v.next(-1, 10), false, 'nothing earlier than the first');
  assert.equal(v.next(1, 10), true);
  assert.equal(v.next(1, 10), true);
  w = v.window(10);
  assert.equal(w.lines[w.current!], 'web.0 | needle 80');
  assert.equal(v.next(1, 10), false, 'nothing later than the last');
  assert.equal(v.search('absent', 10), false);
  assert.equal(v.window(10).match, undefined);
});

test('a search inside a filter moves among the kept lines; a match dropped from the scroll-back is forgotten', () => {
  const v = new LogView(10);
  for (let i = 0; i < 10; i++) v.add(`${i % 2 ? 'web' : 'worker'} ${i}`);
  v.setFilter('web');
  assert.equal(v.search('web 3', 3), true);
  assert.deepEqual(v.window(5).match, { at: 1, of: 1 });
  for (let i = 0; i < 10; i++) v.add(`web new ${i}`);
  assert.equal(v.window(5).match, undefined, 'web 3 left the scroll-back');
  assert.equal(v.next(1, 5), false);
});

test('the log label says following or paused, the filter, the search and where its match is', () => {
  assert.equal(logState({ lines: [], total: 0, fromEnd: 0 }, true, '', ''), '(following)');
  assert.equal(logState({ lines: [], total: 9, fromEnd: 4, match: { at: 2, of: 5 } }, false, 'web', 'err'), '(paused, 4 newer)  &web  /err 2/5');
});

test('the : jump names repos, branches and runners by path; a prefix jumps to the first in tree order; Tab takes the rest', () => {
  const s = snap([branch(), branch({ branch: 'staging' }), branch({ repo: 'blog', runners: [] })]);
  const t = jumpTargets(s);
  assert.deepEqual(
    t.map((x) => x.path),
    ['shop', 'shop/main', 'shop/main/web', 'shop/main/worker', 'shop/staging', 'shop/staging/web', 'shop/staging/worker', 'blog', 'blog/main'],
  );
  assert.equal(jumpMatch('sh', t)?.key, nodeKey('shop'));
  assert.equal(jumpMatch('shop/st', t)?.key, nodeKey('shop', 'staging'));
  assert.equal(jumpMatch('shop/main/wo', t)?.key, nodeKey('shop', 'main', 'worker'));
  assert.deepEqual(jumpMatch('SHOP/STAGING/W', t)?.parents, [nodeKey('shop'), nodeKey('shop', 'staging')]);
  assert.equal(jumpMatch('nope', t), undefined);
  assert.equal(jumpMatch('', t), undefined);
  assert.equal(jumpCompletion('shop/st', t), 'aging');
  assert.equal(jumpCompletion('shop/main', t), '');
  assert.equal(jumpCompletion('nope', t), '');
  assert.deepEqual(promptKey('shop/st', '\t', 'tab', (x) => jumpCompletion(x, t)), { text: 'shop/staging' });
  assert.deepEqual(promptKey('x', '\t', 'tab'), { ignored: true }, 'Tab completes nothing in a search');
  assert.deepEqual(promptKey('ab', undefined, 'backspace'), { text: 'a' });
  assert.deepEqual(promptKey('ab', '\r', 'return'), { submit: 'ab' });
  assert.deepEqual(promptKey('ab', undefined, 'escape'), { cancel: true });
  assert.deepEqual(promptKey('ab', '\x01', 'a'), { ignored: true }, 'a control character is not typed');
});

test('the prompt line shows what was typed, the cursor on the completion and its rest dimmed, inside the width', () => {
  assert.equal(promptText(':', 'shop/st', 'aging', 80), ':shop/st{inverse}a{/inverse}{gray-fg}ging{/gray-fg}');
  assert.equal(promptText('/', 'err', '', 80), '/err{inverse} {/inverse}');
  assert.equal(promptText(':', 'abcdefgh', 'xyz', 6), ':abc…{inverse} {/inverse}');
});

test('keys: : & / open prompts, n N step through matches, j k scroll in the full-screen log, Enter counts once', () => {
  assert.deepEqual(keyCommand(':', undefined, false), { do: 'prompt', kind: 'jump' });
  assert.deepEqual(keyCommand('&', undefined, false), { do: 'prompt', kind: 'filter' });
  assert.deepEqual(keyCommand('/', undefined, false), { do: 'prompt', kind: 'search' });
  assert.deepEqual(keyCommand('n', 'n', false), { do: 'match', dir: 1 });
  assert.deepEqual(keyCommand('N', 'n', false), { do: 'match', dir: -1 });
  assert.deepEqual(keyCommand('j', 'j', true), { do: 'scroll-lines', by: 1 });
  assert.deepEqual(keyCommand(undefined, 'down', false), { do: 'move', by: 1 });
  assert.equal(keyCommand('x', 'x', false), null);
  // blessed reports Enter as `enter` and again as `return`: one of them acts, or a row would open and close again.
  assert.deepEqual(keyCommand('\r', 'return', false), { do: 'expand' });
  assert.equal(keyCommand('\r', 'enter', false), null);
});

test('the help lists : and n N, and with every action fits the 20 rows a pop-up has at 80x24, 62 columns wide', () => {
  const all = helpLines([
    { key: 'r', label: 'restart' },
    { key: 'b', label: 'rebuild' },
    { key: 'R', label: 'rollback' },
    { key: 'c', label: 'command' },
  ]);
  assert.ok(all.length <= 20, `${all.length} lines`);
  assert.ok(all.every((l) => l.length <= 62), all.join('\n'));
  assert.match(all.join('\n'), /^ {2}: +jump to repo\[\/branch\[\/runner\]\], Tab completes$/m);
  assert.match(all.join('\n'), /^ {2}n N +next \/ previous match of the \/ search$/m);
});

test('log lines lose escapes and control characters before they reach the terminal', () => {
  assert.equal(cleanLine('\x1b[31mred\x1b[0m \x1b]0;title\x07x\x07\ty\r'), 'red x?    y?');
});

test('the footer fits the width by dropping navigation keys, never the actions, help or quit', () => {
  const actions = [
    { key: 'r', label: 'restart' },
    { key: 'b', label: 'rebuild' },
    { key: 'R', label: 'rollback' },
    { key: 'c', label: 'command' },
  ];
  const line = footer(actions, 79);
  assert.ok(line.length <= 79, line);
  assert.match(line, /^r restart {2}b rebuild {2}R rollback {2}c command .*\? help {2}q quit$/);
  assert.match(footer([], 200), /↑↓ move {2}⏎ open {2}: jump {2}l logs {2}\/ search {2}f follow {2}\? help {2}q quit/);
  assert.match(footer([], 79, true), /^n N next\/prev {2}↑↓ move .*\? help {2}q quit$/, 'n N after a search');
});
