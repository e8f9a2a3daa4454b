import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logger, setLogSink } from '../../src/lib/log.ts';
import { escapeText, MAX_LOG_VALUE } from '../../src/lib/log-text.ts';

test('line breaks, terminal escapes and other controls are written as escapes', () => {
  assert.equal(escapeText('a\nb\r\tc'), 'a\\nb\\r\\tc');
  assert.equal(escapeText('\x1b[2J\x1b]0;owned\x07'), '\\x1b[2J\\x1b]0;owned\\x07');
  assert.equal(escapeText('\x00\x7f\u009b31m'), '\\x00\\x7f\\x9b31m', 'NUL, DEL and the 8-bit CSI');
  assert.equal(escapeText('back\\slash'), 'back\\\\slash', 'an escape in the output always came from us');
});

test('invisible characters that reorder or hide text are escaped; other Unicode stays', () => {
  assert.equal(escapeText('admin\u202Etxt.exe'), 'admin\\u{202e}txt.exe');
  assert.equal(escapeText('ali\u200bce\ufeff'), 'ali\\u{200b}ce\\u{feff}');
  assert.equal(escapeText('line\u2028sep'), 'line\\u{2028}sep');
  assert.equal(escapeText('lone \ud800 surrogate'), 'lone \\u{d800} surrogate');
  assert.equal(escapeText('Jürgen 👩‍💻 Ωμέγα'), 'Jürgen 👩‍💻 Ωμέγα');
});

test('long text is cut, saying how much was left out', () => {
  const out = escapeText('x'.repeat(10_000));
  assert.equal(out, `${'x'.repeat(MAX_LOG_VALUE)}…(+${10_000 - MAX_LOG_VALUE} chars)`);
  assert.equal(escapeText('abcdef', 3), 'abc…(+3 chars)');
});

test('a log line with hostile field values stays one line without escapes', () => {
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  try {
    logger('t').info('authenticated', {
      login: 'root\n2026-01-01T00:00:00.000Z INFO  slipway.ssh: authenticated user=admin',
      client: 'SSH-2.0-x\x1b[2J\x1b[1;1H',
      key: 'say "hi" = bye',
    });
  } finally {
    setLogSink((l) => process.stderr.write(l + '\n'));
  }
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.doesNotMatch(line, /[\n\r\x1b]/);
  assert.match(line, / login="root\\n2026-01-01T00:00:00\.000Z INFO  slipway\.ssh: authenticated user=admin"/);
  assert.match(line, / client=SSH-2\.0-x\\x1b\[2J\\x1b\[1;1H/);
  assert.match(line, / key="say \\"hi\\" = bye"$/);
});
