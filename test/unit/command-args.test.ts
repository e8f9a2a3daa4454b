import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs, usageLine } from '../../src/commands/args.ts';
import { defineCommand, JSON_FLAG } from '../../src/commands/types.ts';
import { UserError } from '../../src/lib/errors.ts';
import { splitWords } from '../../src/ssh/exec-parse.ts';

const logs = defineCommand({
  name: 'logs',
  usage: '<repo> <branch> [<runner>]',
  summary: 'test',
  argCounts: [2, 3],
  flags: {
    lines: { kind: 'int', short: '-n', arg: 'N', min: 0, max: 10000, help: 'lines' },
    follow: { kind: 'switch', short: '-f', long: '--follow', help: 'follow' },
    json: JSON_FLAG,
    deploy: { kind: 'optional', long: '--deploy', arg: '<release>', accepts: /^r\d+$/, help: 'deploy log' },
  },
  needs: null,
  async run() {
    return 0;
  },
});

const plain = defineCommand({ name: 'whoami', usage: '', summary: 'test', argCounts: [0], needs: null, run: async () => 0 });

/** The exec string as a client sends it, split and parsed as the router does. */
const parse = (line: string) => parseArgs(logs, splitWords(line));

function usageFails(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UserError && e.exitCode === 2 && message.test(e.message) && e.message.endsWith(usageLine(logs)));
}

test('flags may come anywhere and get typed values; undeclared ones are off', () => {
  assert.deepEqual(parse('hello main web -n 50 -f'), { args: ['hello', 'main', 'web'], flags: { lines: 50, follow: true, json: false, deploy: undefined }, help: false });
  assert.deepEqual(parse('-f hello -n5 main').flags, { lines: 5, follow: true, json: false, deploy: undefined });
  assert.deepEqual(parse('--follow --json hello main').flags.json, true);
  assert.deepEqual(parse('hello main').flags, { lines: undefined, follow: false, json: false, deploy: undefined });
});

test('an optional value is taken only when it looks like one, so a positional after it stays positional', () => {
  assert.deepEqual(parse('hello main --deploy'), { args: ['hello', 'main'], flags: { lines: undefined, follow: false, json: false, deploy: true }, help: false });
  assert.equal(parse('hello main --deploy r3').flags.deploy, 'r3');
  assert.deepEqual(parse('hello --deploy main').args, ['hello', 'main']);
  assert.equal(parse('hello main --deploy=r12').flags.deploy, 'r12');
});

test('quoted words are single arguments and -- ends the flags', () => {
  assert.deepEqual(parse(`'my app' "main branch" -n 1`).args, ['my app', 'main branch']);
  assert.deepEqual(parse('hello -- -f').args, ['hello', '-f']);
  assert.deepEqual(parse('hello main -').args, ['hello', 'main', '-']);
  // Shell syntax is text: nothing is expanded, `;` is a word.
  assert.deepEqual(parse('hello $(id) ;').args, ['hello', '$(id)', ';']);
});

test('wrong flags and counts are usage errors (exit 2) that end with the usage', () => {
  usageFails(() => parse('hello main --lines 5'), /unknown flag '--lines' \(logs takes -n, --follow, --json, --deploy\)/);
  usageFails(() => parse('hello main -x'), /unknown flag '-x'/);
  usageFails(() => parse('hello main -n'), /-n needs a value \(N\)/);
  usageFails(() => parse('hello main -n ten'), /-n takes a whole number from 0 to 10000, not 'ten'/);
  usageFails(() => parse('hello main -n 10001'), /not '10001'/);
  usageFails(() => parse('hello main --follow=yes'), /--follow takes no value/);
  usageFails(() => parse('hello'), /^usage: logs/);
  usageFails(() => parse('a b c d'), /^usage: logs/);
  assert.throws(() => parseArgs(plain, ['--json']), (e: unknown) => e instanceof UserError && e.exitCode === 2 && /whoami takes no flags but --help/.test(e.message));
});

test('--help and -h are understood by every command, whatever else is on the line', () => {
  assert.equal(parseArgs(plain, ['--help']).help, true);
  assert.equal(parse('-h').help, true);
  assert.equal(parse('a b c d --help').help, true);
});

test('the usage line lists positionals and every flag', () => {
  assert.equal(usageLine(logs), 'usage: logs <repo> <branch> [<runner>] [-n N] [-f] [--json] [--deploy [<release>]]');
  assert.equal(usageLine(plain), 'usage: whoami');
});
