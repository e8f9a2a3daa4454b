import fs from 'node:fs';
import path from 'node:path';
import { writeStarterConfig } from './init.ts';
import { loadConfig } from '../config/load.ts';
import { watchConfigDir } from '../config/watch.ts';
import { formatProblem, type Config } from '../config/types.ts';
import { reportInternal, UserError } from '../lib/errors.ts';
import { findNginx, INSTALL_HINT } from '../nginx/binary.ts';
import { Router } from '../ssh/router.ts';
import { startIndexThread } from '../git/index-off-thread.ts';
import { cleanStaleState, defaultBranchOf, ensureBareRepo, gitDirFor } from '../git/repo.ts';
import { logger } from '../lib/log.ts';
import { loadHostKeys } from '../ssh/hostkeys.ts';
import { offeredHostKeys, startSshServer } from '../ssh/server.ts';
import { seedRepo, SOURCE_ROOT, starterKeys } from '../service/starter.ts';
import { acquireDataDirLock } from '../lib/data-lock.ts';
import { Supervisor } from '../runners/supervisor.ts';
import { mayLogIn } from '../service/access.ts';
import { Service } from '../service/service.ts';
import { configDirExposure } from '../lib/private-files.ts';
import { detectIsolation, Isolator } from '../runners/isolation.ts';

export interface ServeOptions {
  configDir: string;
  dataDir: string;
  listen?: { host: string; port: number };
  /** overrides nginx.http_port (as `listen` overrides listen), for a second instance or a test */
  httpPort?: number;
  /** the no-flags instance: create config and an example repo on first start */
  starter: boolean;
}

const log = logger('slipway');

export async function serve(opts: ServeOptions): Promise<void> {
  if (opts.starter && !hasMainFile(opts.configDir)) {
    writeStarterConfig(opts.configDir, starterKeys(), findNginx({}) !== null);
    log.info('created the starter config', { dir: opts.configDir });
  }
  const config = withOverrides(loadOrFail(opts.configDir), opts);
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  acquireDataDirLock(opts.dataDir);
  const isolator = new Isolator(detectIsolation(), path.resolve(opts.dataDir), opts.configDir, log.child('isolation'));
  sayWhatIsolates(isolator);
  const refused = isolator.problems(config);
  if (refused.length) throw new UserError(refused.map(formatProblem).join('\n'));
  prepareIsolation(isolator, config);
  for (const warning of configDirExposure(opts.configDir)) log.warn(warning);
  await prepareRepos(config, opts.dataDir);
  if (opts.starter && config.repos.hello?.branches.main) {
    const seeded = await seedRepo(gitDirFor(opts.dataDir, 'hello'), 'main', path.join(SOURCE_ROOT, 'templates', 'hello'));
    if (seeded) log.info('seeded the example repo', { repo: 'hello', commit: seeded });
  }

  const supervisor = new Supervisor({
    stateFile: path.join(opts.dataDir, 'state', 'processes.json'),
    log: log.child('supervisor'),
    logLimits: config.global.logs,
  });
  await supervisor.init();
  const service = new Service(config, opts.dataDir, supervisor, log, isolator);
  await service.reconcile();
  service.watchNginx();

  startIndexThread(); // ready before the first big push, not started by it
  const hostKeys = offeredHostKeys(loadHostKeys(opts.dataDir), config.global.ssh);
  const router = new Router(service, log.child('gateway'));
  const listen = opts.listen ?? config.global.listen;
  const server = await startSshServer(
    {
      hostKeys,
      limits: () => service.limits,
      settings: () => service.sshSettings,
      identify: (blob) => router.identify(blob),
      knows: (blob) => router.knows(blob),
      handlers: router,
      log: log.child('ssh'),
    },
    listen.host,
    listen.port,
  ).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(`cannot listen on ${listen.host}:${listen.port}: ${err.code ?? err.message} (set listen in ${config.mainFile} or --listen)`);
  });

  process.stdout.write(banner(config, opts, server.host, server.port, hostKeys) + webBanner(service, opts.starter));

  // Apps outlive the gateway: stopping it leaves them running; the next start adopts them.
  const stop = (signal: string) => {
    log.info('stopping; apps keep running', { signal });
    supervisor.detach();
    void server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // The config dir is watched; SIGHUP and the `reload` command apply it on demand.
  service.useConfigSource(
    async () => {
      const result = loadConfig(opts.configDir);
      if ('problems' in result) return { problems: result.problems.map(formatProblem) };
      const refused = isolator.problems(result.config);
      if (refused.length) return { problems: refused.map(formatProblem) };
      return { config: withOverrides(result.config, opts) };
    },
    async (config) => {
      await prepareRepos(config, opts.dataDir, { cleanLeftovers: false });
      isolator.prepare(config);
    },
  );
  // Keys removed (or users who lost login) lose their open sessions; changed limits apply.
  service.events.on(() => server.revalidate(), ['config-applied']);
  const reload = (by: string) => {
    service.reload(by).catch((err: unknown) => reportInternal(log, err, { during: 'config reload', by }));
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (config.global.watchConfig) watchConfigDir(opts.configDir, () => reload('watch'));
  // A config changed while the gateway was down is rolled out now, as new releases.
  service.applyConfigReleases('start').catch((err: unknown) => reportInternal(log, err, { during: 'config releases at start' }));
}

/** Said at every start: who runs the code that users push. */
function sayWhatIsolates(isolator: Isolator): void {
  const f = isolator.facts;
  if (!f.root) {
    log.warn(`slipway runs as ${f.gatewayUser}, not root: it cannot isolate apps; builds, apps and custom commands run as ${f.gatewayUser} and can do whatever ${f.gatewayUser} can`);
  } else if (!f.sandbox) {
    log.warn(`no sandbox: ${f.sandboxProblem}; each repo runs as its own user, without a sandbox`);
  }
}

function prepareIsolation(isolator: Isolator, config: Config): void {
  try {
    isolator.prepare(config);
  } catch (err) {
    throw new UserError(`cannot prepare the apps' users: ${(err as Error).message}`);
  }
}

/** Where the domains answer, or (starter instance without nginx) how to get them. */
function webBanner(service: Service, starter: boolean): string {
  const site = service.domains();
  const lines = (site?.domains ?? []).map((d) => `web:    ${d.urls.join(' ')}`);
  if (lines.length === 0 && starter && !service.hasNginx()) lines.push(`web:    no nginx, so no domains: ${INSTALL_HINT}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}

function withOverrides(config: Config, opts: ServeOptions): Config {
  if (opts.httpPort === undefined) return config;
  return { ...config, global: { ...config.global, nginx: { ...config.global.nginx, httpPort: opts.httpPort } } };
}

function hasMainFile(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'slipway.yml')) || fs.existsSync(path.join(dir, 'pypaas.yml'));
}

function loadOrFail(dir: string): Config {
  const result = loadConfig(dir);
  for (const w of result.warnings) log.warn(formatProblem(w));
  if ('problems' in result) throw new UserError(result.problems.map(formatProblem).join('\n'));
  return result.config;
}

/**
 * Every configured repo exists as a bare repo. At start (only then: a reload may run while pushes
 * are under way) leftovers of a killed gateway are removed.
 */
async function prepareRepos(config: Config, dataDir: string, { cleanLeftovers } = { cleanLeftovers: true }): Promise<void> {
  for (const repo of Object.values(config.repos)) {
    const branches = Object.keys(repo.branches);
    const gitDir = gitDirFor(dataDir, repo.name);
    await ensureBareRepo(gitDir, defaultBranchOf(branches), branches);
    if (!cleanLeftovers) continue;
    const removed = cleanStaleState(gitDir);
    if (removed.length) log.warn('removed leftovers of an interrupted push', { repo: repo.name, paths: removed.join(',') });
  }
}

function banner(config: Config, opts: ServeOptions, host: string, port: number, keys: { type: string; fingerprint: string }[]): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = (repo: string) => `ssh://paas@${shown}:${port}/${repo}`;
  const repos = Object.keys(config.repos).sort();
  const lines = [
    `slipway listening on ${host}:${port}`,
    `config: ${opts.configDir}`,
    `data:   ${opts.dataDir}`,
    'host keys:',
    ...keys.map((k) => `  ${k.type.toUpperCase().padEnd(7)} ${k.fingerprint}`),
    `users:  ${config.global.users === null ? `every key is an admin (no 'users' in ${config.mainFile}); ` : ''}${[...new Set(config.keys.map((k) => k.user))].filter((u) => mayLogIn(config, u)).join(', ') || '(no keys: nobody can log in)'}`,
  ];
  if (repos.length) {
    const first = repos.includes('hello') ? 'hello' : repos[0]!;
    const branch = defaultBranchOf(Object.keys(config.repos[first]!.branches));
    lines.push(
      'try:',
      `  git clone ${url(first)}          # then, in the clone: git push origin ${branch}`,
      `  git remote add slipway ${url(first)}   # or, in a repo of your own: git push slipway ${branch}`,
      `  ssh -p ${port} paas@${shown} help`,
    );
  }
  return lines.join('\n') + '\n';
}
