import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isUserError, reportInternal, UserError } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import { count } from '../lib/plural.ts';
import { slipwayVersion } from '../lib/version.ts';

const DEFAULT_BASE = '.slipway';

interface CliCommand {
  name: string;
  /** flags and arguments after the command name */
  usage: string;
  summary: string;
  /** each flag takes a value */
  flags: string[];
  /** positional arguments allowed */
  args: { min: number; max: number };
  run(values: Record<string, string | undefined>, args: string[]): Promise<number> | number;
}

// Each command loads what it needs when it runs: `help` and `--version` load nothing, `check`
// no ssh2, git or supervisor.
const COMMANDS: CliCommand[] = [
  {
    name: 'serve',
    usage: '[--config DIR] [--data DIR] [--listen HOST:PORT] [--http-port PORT]',
    summary: 'run the gateway; with no flags, the starter instance in ./.slipway/',
    flags: ['config', 'data', 'listen', 'http-port'],
    args: { min: 0, max: 0 },
    run: serveCommand,
  },
  {
    name: 'stop',
    usage: '[--data DIR]',
    summary: 'stop the gateway of a data dir, every app it runs and its managed nginx',
    flags: ['data'],
    args: { min: 0, max: 0 },
    run: stopCommand,
  },
  {
    name: 'check',
    usage: '[--config DIR] [--data DIR]',
    summary: 'validate a config directory, print every problem',
    flags: ['config', 'data'],
    args: { min: 0, max: 0 },
    run: checkCommand,
  },
  {
    name: 'init',
    usage: 'DIR',
    summary: 'write a starter config directory',
    flags: [],
    args: { min: 1, max: 1 },
    run: (_values, [dir]) => initCommand(dir!),
  },
];

function usageText(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.usage}`.length));
  return [
    'usage: slipway <command> [options]',
    '',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.usage}`.padEnd(width)}  ${c.summary}`),
    `  ${'help [<command>]'.padEnd(width)}  this text, or one command's`,
    `  ${'--version'.padEnd(width)}  print the version`,
    '',
  ].join('\n');
}

function commandHelp(cmd: CliCommand): string {
  return `usage: slipway ${cmd.name} ${cmd.usage}\n${cmd.summary}\n`;
}

function find(name: string): CliCommand {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UserError(`unknown command '${name}'\n${usageText()}`, 2);
  return cmd;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case undefined:
      process.stderr.write(usageText());
      return 2;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(rest[0] === undefined ? usageText() : commandHelp(find(rest[0])));
      return 0;
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`slipway ${slipwayVersion()}\n`);
      return 0;
  }
  const cmd = find(name);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(cmd));
    return 0;
  }
  const { values, positionals } = parseFlags(cmd, rest);
  return cmd.run(values, positionals);
}

/** Node's parser, with its errors reworded to name the flags that exist. */
function parseFlags(cmd: CliCommand, args: string[]) {
  const usage = `usage: slipway ${cmd.name} ${cmd.usage}`;
  const options = Object.fromEntries(cmd.flags.map((f) => [f, { type: 'string' as const }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const known = cmd.flags.length ? `${cmd.name} takes ${cmd.flags.map((f) => `--${f}`).join(', ')}` : `${cmd.name} takes no flags`;
    const flag = /'(-[^']*)'/.exec((err as Error).message)?.[1] ?? '';
    const what = code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `${flag.split(' ')[0]} needs a value` : `unknown flag '${flag}'`;
    throw new UserError(`${what} (${known})\n${usage}`, 2);
  }
  const { positionals } = parsed;
  if (positionals.length > cmd.args.max) throw new UserError(`unexpected argument '${positionals[cmd.args.max]}'\n${usage}`, 2);
  if (positionals.length < cmd.args.min) throw new UserError(usage, 2);
  return { values: parsed.values as Record<string, string | undefined>, positionals };
}

async function serveCommand(values: Record<string, string | undefined>): Promise<number> {
  const { parseListen } = await import('../config/schema.ts');
  const listen = values.listen === undefined ? undefined : parseListen(values.listen);
  if (listen === null) throw new UserError(`--listen: '${values.listen}' is not HOST:PORT (e.g. 127.0.0.1:2222; port 0 picks a free one)`, 2);
  const httpPort = values['http-port'] === undefined ? undefined : Number(values['http-port']);
  if (httpPort !== undefined && !(Number.isInteger(httpPort) && httpPort >= 1 && httpPort <= 65535)) {
    throw new UserError(`--http-port: '${values['http-port']}' is not a port number from 1 to 65535`, 2);
  }
  const { serve } = await import('./serve.ts');
  await serve({
    configDir: path.resolve(values.config ?? path.join(DEFAULT_BASE, 'config')),
    dataDir: path.resolve(values.data ?? path.join(DEFAULT_BASE, 'data')),
    listen,
    httpPort,
    starter: values.config === undefined,
  });
  return new Promise<number>(() => {}); // runs until a signal ends the process
}

async function stopCommand(values: Record<string, string | undefined>): Promise<number> {
  const dir = path.resolve(values.data ?? path.join(DEFAULT_BASE, 'data'));
  if (!fs.existsSync(dir)) throw new UserError(`${dir} does not exist (give the data dir with --data)`);
  const { stopEverything } = await import('./stop.ts');
  await stopEverything(dir, (line) => process.stdout.write(line + '\n'));
  return 0;
}

async function checkCommand(values: Record<string, string | undefined>): Promise<number> {
  const [{ loadConfig }, { formatProblem }] = await Promise.all([import('../config/load.ts'), import('../config/types.ts')]);
  const dir = path.resolve(values.config ?? path.join(DEFAULT_BASE, 'config'));
  const result = loadConfig(dir);
  for (const w of result.warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
  if ('problems' in result) {
    for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write(`${count(result.problems.length, 'problem')} in ${dir}\n`);
    return 1;
  }
  const c = result.config;
  // What `serve` would refuse here, as this user: isolation this machine cannot give.
  const [{ detectIsolation, Isolator }, { logger }, { configDirExposure }] = await Promise.all([
    import('../runners/isolation.ts'),
    import('../lib/log.ts'),
    import('../lib/private-files.ts'),
  ]);
  const dataDir = path.resolve(values.data ?? path.join(DEFAULT_BASE, 'data'));
  const refused = new Isolator(detectIsolation(), dataDir, dir, logger('check')).problems(c);
  for (const w of configDirExposure(dir)) process.stderr.write(`warning: ${w}\n`);
  const { checkDomains } = await import('../nginx/check.ts');
  const nginxProblems = [...refused.map(formatProblem), ...(await checkDomains(c))];
  if (nginxProblems.length) {
    for (const line of nginxProblems) process.stderr.write(`${line}\n`);
    process.stderr.write(`${count(nginxProblems.length, 'problem')} in ${dir}\n`);
    return 1;
  }
  process.stdout.write(`${dir}: ok (${c.mainFile}; ${count(Object.keys(c.repos).length, 'repo')}, ${count(Object.keys(c.domains).length, 'domain')}, ${count(c.keys.length, 'key')})\n`);
  return 0;
}

async function initCommand(target: string): Promise<number> {
  const { writeStarterConfig } = await import('./init.ts');
  const dir = path.resolve(target);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UserError(`${dir} exists and is not a directory`);
  const { findNginx } = await import('../nginx/binary.ts');
  writeStarterConfig(dir, [], findNginx({}) !== null);
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
    process.stderr.write(`slipway: ${reportInternal(logger('slipway'), err)}\n`);
    process.exit(70);
  },
);
