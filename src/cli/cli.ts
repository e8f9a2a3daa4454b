import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatProblem } from '../config/types.ts';
import { loadConfig } from '../config/load.ts';
import { parseListen } from '../config/schema.ts';
import { writeStarterConfig } from './init.ts';
import { isUserError, UserError } from '../lib/errors.ts';
import { serve } from './serve.ts';
import { stopEverything } from './stop.ts';

const USAGE = `usage: slipway <command> [options]

  serve [--config DIR] [--data DIR] [--listen HOST:PORT]
        run the gateway; with no flags, the starter instance in ./.slipway/
  stop [--data DIR]      stop the gateway of a data dir and every app it runs
  check [--config DIR]   validate a config directory, print every problem
  init DIR               write a starter config directory
  help                   this text
`;

const DEFAULT_BASE = '.slipway';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'check':
      return checkCommand(rest);
    case 'stop':
      return stopCommand(rest);
    case 'init':
      return initCommand(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UserError(`unknown command '${command}'\n${USAGE}`, 2);
  }
}

function flags<T extends Record<string, { type: 'string' }>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UserError(`${(err as Error).message.split('\n')[0]}\nusage: slipway ${usage}`, 2);
  }
}

async function serveCommand(args: string[]): Promise<number> {
  const usage = 'serve [--config DIR] [--data DIR] [--listen HOST:PORT]';
  const { values, positionals } = flags(args, { config: { type: 'string' }, data: { type: 'string' }, listen: { type: 'string' } }, usage);
  if (positionals.length) throw new UserError(`unexpected argument '${positionals[0]}'\nusage: slipway ${usage}`, 2);
  const listen = values.listen === undefined ? undefined : parseListen(values.listen);
  if (listen === null) throw new UserError(`--listen: '${values.listen}' is not HOST:PORT (e.g. 127.0.0.1:2222; port 0 picks a free one)`, 2);
  const starter = values.config === undefined;
  await serve({
    configDir: path.resolve(values.config ?? path.join(DEFAULT_BASE, 'config')),
    dataDir: path.resolve(values.data ?? path.join(DEFAULT_BASE, 'data')),
    listen,
    starter,
  });
  return new Promise<number>(() => {}); // runs until a signal ends the process
}

async function stopCommand(args: string[]): Promise<number> {
  const { values, positionals } = flags(args, { data: { type: 'string' } }, 'stop [--data DIR]');
  if (positionals.length) throw new UserError(`unexpected argument '${positionals[0]}'\nusage: slipway stop [--data DIR]`, 2);
  const dir = path.resolve(values.data ?? path.join(DEFAULT_BASE, 'data'));
  if (!fs.existsSync(dir)) throw new UserError(`${dir} does not exist (give the data dir with --data)`);
  await stopEverything(dir, (line) => process.stdout.write(line + '\n'));
  return 0;
}

function checkCommand(args: string[]): number {
  const { values, positionals } = flags(args, { config: { type: 'string' } }, 'check [--config DIR]');
  if (positionals.length) throw new UserError(`unexpected argument '${positionals[0]}'\nusage: slipway check [--config DIR]`, 2);
  const dir = path.resolve(values.config ?? path.join(DEFAULT_BASE, 'config'));
  const result = loadConfig(dir);
  for (const w of result.warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
  if ('problems' in result) {
    for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${dir}\n`);
    return 1;
  }
  const c = result.config;
  process.stdout.write(
    `${dir}: ok (${c.mainFile}; ${Object.keys(c.repos).length} repos, ${Object.keys(c.domains).length} domains, ${c.keys.length} keys)\n`,
  );
  return 0;
}

function initCommand(args: string[]): number {
  const { positionals } = flags(args, {}, 'init DIR');
  if (positionals.length !== 1) throw new UserError('usage: slipway init DIR', 2);
  const dir = path.resolve(positionals[0]!);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UserError(`${dir} exists and is not a directory`);
  writeStarterConfig(dir, []);
  process.stdout.write(`wrote a starter config to ${dir}; add public keys as ${path.join(dir, 'keys', '<user>.pub')}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (isUserError(err)) {
      process.stderr.write(`slipway: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`slipway: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(70);
  },
);
