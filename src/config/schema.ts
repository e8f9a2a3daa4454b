import { z } from 'zod';
import { branchNameError } from '../lib/ref-name.ts';
import { printable } from '../lib/text.ts';
import type {
  AppLimits,
  BranchConfig,
  DomainConfig,
  GcSettings,
  GlobalConfig,
  IsolationMode,
  Limits,
  LocationConfig,
  LogLimits,
  NginxSettings,
  Role,
  RunnerConfig,
  RunnerType,
  SshSettings,
} from './types.ts';
import { describe, gotExpected } from './problems.ts';

/**
 * One zod schema per config file kind. YAML keys are snake_case (pyPaaS's spelling); the output
 * is the camelCase typed value from types.ts. Messages read `what is wrong (what is expected)`;
 * `validate` (problems.ts) turns zod issues into one ConfigProblem each.
 */

const RUNNER_TYPES = ['SimpleProcess', 'NginxBackend', 'UwsgiNginxBackend', 'NginxStatic'] as const satisfies readonly RunnerType[];

const DEFAULT_LISTEN = { host: '0.0.0.0', port: 2222 };
const DEFAULT_PORTS = { min: 61000, max: 62000 };
export const DEFAULT_KEEP_RELEASES = 3;
export const DEFAULT_LIMITS: Limits = {
  maxConnections: 64,
  maxUnauthenticated: 100,
  maxUnauthenticatedPerSource: 10,
  penaltyMs: 5_000,
  penaltyMaxMs: 600_000,
  maxAuthAttempts: 6,
  handshakeTimeoutMs: 20_000,
  idleTimeoutMs: 600_000,
  maxPackBytes: 1024 ** 3,
  maxSessionsPerConnection: 10,
  maxObjectBytes: 256 * 1024 ** 2,
  maxDeltaDepth: 4095, // git's own deepest (pack-objects never writes a deeper chain)
  maxPushInflatedBytes: 8 * 1024 ** 3,
  maxRefsPerPush: 10_000,
  maxRefsPerRepo: 100_000,
  maxMessageBytes: 1024 ** 2,
  maxTreeEntries: 100_000,
  maxCheckoutFiles: 200_000,
  maxCheckoutBytes: 2 * 1024 ** 3,
  maxConnectionsPerUser: 10,
  maxSessionsPerUser: 10,
};
/** The object store reads delta chains up to this deep (src/git/push-limits.ts READABLE_DELTA_DEPTH). */
const MAX_READABLE_DELTA_DEPTH = 10_000;
const DEFAULT_LOG_LIMITS: LogLimits = { maxBytes: 10 * 1024 ** 2, keep: 5 };
const DEFAULT_GC: GcSettings = { graceMs: 14 * 86_400_000, autoPacks: 16, autoLoose: 1000 };
const DEFAULT_HEALTHCHECK_TIMEOUT = 30;
export const DEFAULT_APP_LIMITS: AppLimits = {
  processes: 512,
  openFiles: 4096,
  // V8 alone reserves over 1 GiB of address space; 4 GiB stops a runaway app, not a normal one.
  memoryBytes: 4 * 1024 ** 3,
  buildTimeoutMs: 30 * 60_000,
};
const DEFAULT_DRAIN_SECONDS = 5;

// ---------------------------------------------------------------- building blocks

/** A mapping that rejects unknown keys (typos) and lists the keys it knows. */
function strict<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, { error: (iss) => (iss.code === 'unrecognized_keys' ? `expected ${known}` : undefined) });
}

/** An optional key; an empty YAML value (`key:`) counts as absent. */
function optional<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((v) => v ?? undefined);
}

/**
 * A whole file: empty means `{}`, and top-level `x-…` keys are skipped so they can hold YAML
 * anchors for `<<:` merges (as in docker-compose), since every other unknown key is an error.
 */
function fileRoot<T extends z.ZodType>(schema: T) {
  const withoutExtensions = (v: Record<string, unknown>) => Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('x-')));
  return z.preprocess((v) => (isMapping(v) ? withoutExtensions(v) : v ?? {}), schema);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A mapping that may be absent or empty in YAML (`env:` with nothing under it). */
function mapping<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => v ?? {}, schema);
}

/** A record without Object.prototype, so a pushed name like `constructor` finds nothing. */
export function dict<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) out[key] = value;
  return out;
}

/** A mapping with free-form keys checked by `key`, as a `dict`. */
function record<K extends z.ZodType<string>, V extends z.ZodType>(key: K, value: V) {
  return z.record(key, value).transform((r) => dict(Object.entries(r) as [string, z.output<V>][]));
}

/** A mapping whose keys are names checked by `nameError`, each value given its name. */
function named<T extends z.ZodType<object>>(item: T, nameError: (name: string) => string | null) {
  const key = z.string().superRefine((name, ctx) => {
    const error = nameError(name);
    if (error) ctx.addIssue({ code: 'custom', message: error });
  });
  return z.record(key, item).transform((r) =>
    dict(Object.entries(r).map(([name, value]): [string, z.output<T> & { name: string }] => [name, { name, ...(value as z.output<T>) }])));
}

/** A schema's own error message in the `gotExpected` form. */
function expecting(what: string) {
  return { error: (iss: { input?: unknown }) => gotExpected(iss.input, what) };
}

const text = z.string();
const nonEmpty = z.string().min(1);
const positiveInt = z.int(expecting('a whole number, 1 or more')).min(1);
const port = z.int(expecting('a port number from 1 to 65535')).min(1).max(65535);
const seconds = z.number(expecting('a number of seconds above 0')).positive();
const secondsOrZero = z.number(expecting('a number of seconds, 0 or more')).min(0);
const commands = z.union([nonEmpty, z.array(nonEmpty)], expecting('a command or a list of commands'))
  .transform((v) => (typeof v === 'string' ? [v] : v));

/** pyPaaS read YAML 1.1, where yes/no/on/off are booleans; YAML 1.2 reads them as strings. */
const YAML11_BOOLEANS = new Map([['yes', true], ['on', true], ['true', true], ['no', false], ['off', false], ['false', false]]);
const flag = z.union([z.boolean(), z.string()], expecting('true or false')).transform((v, ctx) => {
  const value = typeof v === 'boolean' ? v : YAML11_BOOLEANS.get(v.toLowerCase());
  if (value !== undefined) return value;
  ctx.addIssue({ code: 'custom', message: gotExpected(v, 'true or false') });
  return z.NEVER;
});

// ---------------------------------------------------------------- slipway.yml / pypaas.yml

const listen = z.union([z.number(), z.string()], expecting("'HOST:PORT' or a port number")).transform((v, ctx) => {
  const parsed = parseListen(v);
  if (parsed) return parsed;
  ctx.addIssue({ code: 'custom', message: `got ${describe(v)} (expected 'HOST:PORT' or a port number from 0 to 65535; 0 picks a free port)` });
  return z.NEVER;
});

/** "HOST:PORT", "[IPv6]:PORT", "PORT" or a number; port 0 means any free port. */
export function parseListen(value: number | string): { host: string; port: number } | null {
  const match = /^(?:\[([^\]]+)\]:|([^:[\]]+):)?(\d+)$/.exec(String(value).trim());
  const portNumber = Number(match?.[3]);
  if (!match || !Number.isInteger(portNumber) || portNumber > 65535) return null;
  return { host: match[1] ?? match[2] ?? DEFAULT_LISTEN.host, port: portNumber };
}

const size = z.union([z.number(), z.string()], expecting("a size in bytes or like '100MB', '1GiB', '512k'")).transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes !== null) return bytes;
  ctx.addIssue({ code: 'custom', message: `got ${describe(v)} (expected a size in bytes or like '100MB', '1GiB', '512k')` });
  return z.NEVER;
});

/**
 * Bytes from an integer or `<number><unit>`. KB/MB/GB/TB are decimal (1000^n, as disks count),
 * KiB/MiB/GiB/TiB binary (1024^n); a bare k/M/G/T (`512k`, nginx-style) is binary too.
 */
export function parseSize(value: number | string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*(?:([kKmMgGtT])(i?))?([bB]?)$/.exec(String(value).trim());
  if (!match) return null;
  const [, amount, unit, binary, bytesSuffix] = match;
  const power = unit ? 'kmgt'.indexOf(unit.toLowerCase()) + 1 : 0;
  const decimal = Boolean(unit && bytesSuffix && !binary);
  const bytes = Math.floor(Number(amount) * (decimal ? 1000 : 1024) ** power);
  return bytes >= 1 && Number.isSafeInteger(bytes) ? bytes : null;
}

const ms = (secondsValue: number | undefined, fallback: number) => (secondsValue === undefined ? fallback : Math.round(secondsValue * 1000));

const limits = strict({
  max_connections: optional(positiveInt),
  max_unauthenticated: optional(positiveInt),
  max_unauthenticated_per_source: optional(positiveInt),
  penalty: optional(z.number(expecting('a number of seconds, 0 or more')).min(0)),
  penalty_max: optional(seconds),
  max_auth_attempts: optional(positiveInt),
  handshake_timeout: optional(seconds),
  idle_timeout: optional(seconds),
  max_pack_size: optional(size),
  max_sessions_per_connection: optional(positiveInt),
  max_object_size: optional(size),
  max_delta_depth: optional(z.int(expecting(`a whole number from 1 to ${MAX_READABLE_DELTA_DEPTH}`)).min(1).max(MAX_READABLE_DELTA_DEPTH)),
  max_push_inflated: optional(size),
  max_refs_per_push: optional(positiveInt),
  max_refs_per_repo: optional(positiveInt),
  max_message_size: optional(size),
  max_tree_entries: optional(positiveInt),
  max_checkout_files: optional(positiveInt),
  max_checkout_size: optional(size),
  max_connections_per_user: optional(positiveInt),
  max_sessions_per_user: optional(positiveInt),
}).transform((l): Limits => ({
  maxConnections: l.max_connections ?? DEFAULT_LIMITS.maxConnections,
  maxUnauthenticated: l.max_unauthenticated ?? DEFAULT_LIMITS.maxUnauthenticated,
  maxUnauthenticatedPerSource: l.max_unauthenticated_per_source ?? DEFAULT_LIMITS.maxUnauthenticatedPerSource,
  penaltyMs: ms(l.penalty, DEFAULT_LIMITS.penaltyMs),
  penaltyMaxMs: ms(l.penalty_max, DEFAULT_LIMITS.penaltyMaxMs),
  maxAuthAttempts: l.max_auth_attempts ?? DEFAULT_LIMITS.maxAuthAttempts,
  handshakeTimeoutMs: ms(l.handshake_timeout, DEFAULT_LIMITS.handshakeTimeoutMs),
  idleTimeoutMs: ms(l.idle_timeout, DEFAULT_LIMITS.idleTimeoutMs),
  maxPackBytes: l.max_pack_size ?? DEFAULT_LIMITS.maxPackBytes,
  maxSessionsPerConnection: l.max_sessions_per_connection ?? DEFAULT_LIMITS.maxSessionsPerConnection,
  maxObjectBytes: l.max_object_size ?? DEFAULT_LIMITS.maxObjectBytes,
  maxDeltaDepth: l.max_delta_depth ?? DEFAULT_LIMITS.maxDeltaDepth,
  maxPushInflatedBytes: l.max_push_inflated ?? DEFAULT_LIMITS.maxPushInflatedBytes,
  maxRefsPerPush: l.max_refs_per_push ?? DEFAULT_LIMITS.maxRefsPerPush,
  maxRefsPerRepo: l.max_refs_per_repo ?? DEFAULT_LIMITS.maxRefsPerRepo,
  maxMessageBytes: l.max_message_size ?? DEFAULT_LIMITS.maxMessageBytes,
  maxTreeEntries: l.max_tree_entries ?? DEFAULT_LIMITS.maxTreeEntries,
  maxCheckoutFiles: l.max_checkout_files ?? DEFAULT_LIMITS.maxCheckoutFiles,
  maxCheckoutBytes: l.max_checkout_size ?? DEFAULT_LIMITS.maxCheckoutBytes,
  maxConnectionsPerUser: l.max_connections_per_user ?? DEFAULT_LIMITS.maxConnectionsPerUser,
  maxSessionsPerUser: l.max_sessions_per_user ?? DEFAULT_LIMITS.maxSessionsPerUser,
}));

/** Compatibility switches for old SSH clients; both off by default (see the README). */
const ssh = strict({
  rsa_sha1_signatures: optional(flag),
  ecdsa_host_key: optional(flag),
}).transform((s): SshSettings => ({
  rsaSha1Signatures: s.rsa_sha1_signatures ?? false,
  ecdsaHostKey: s.ecdsa_host_key ?? false,
}));

/** App log files: rotated by size, a bounded number kept. */
const logs = strict({
  max_size: optional(size),
  keep: optional(positiveInt),
}).transform((l): LogLimits => ({
  maxBytes: l.max_size ?? DEFAULT_LOG_LIMITS.maxBytes,
  keep: l.keep ?? DEFAULT_LOG_LIMITS.keep,
}));

/** Repository gc: the grace period of unreachable objects and the thresholds that start one after a push. */
const countOrZero = z.int(expecting('a whole number, 0 or more')).min(0);
const gcSettings = strict({
  grace_days: optional(z.number(expecting('a number of days, 0 or more')).min(0)),
  auto_packs: optional(countOrZero),
  auto_loose: optional(countOrZero),
}).transform((g): GcSettings => ({
  graceMs: g.grace_days === undefined ? DEFAULT_GC.graceMs : Math.round(g.grace_days * 86_400_000),
  autoPacks: g.auto_packs ?? DEFAULT_GC.autoPacks,
  autoLoose: g.auto_loose ?? DEFAULT_GC.autoLoose,
}));

const ISOLATION_MODES = ['sandbox', 'user', 'none'] as const satisfies readonly IsolationMode[];
const isolation = z.enum(ISOLATION_MODES, {
  error: (iss) => gotExpected(iss.input, 'sandbox, user or none'),
});

/** `app_limits` in slipway.yml and `limits` in a repo file: every key optional, so a repo overrides only what it names. */
const appLimits = strict({
  processes: optional(positiveInt),
  open_files: optional(positiveInt),
  memory: optional(size),
  build_timeout: optional(seconds),
}).transform((l): Partial<AppLimits> => ({
  ...(l.processes === undefined ? {} : { processes: l.processes }),
  ...(l.open_files === undefined ? {} : { openFiles: l.open_files }),
  ...(l.memory === undefined ? {} : { memoryBytes: l.memory }),
  ...(l.build_timeout === undefined ? {} : { buildTimeoutMs: Math.round(l.build_timeout * 1000) }),
}));

/** A system user name useradd accepts everywhere (32 bytes at most); never root. */
const runAs = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
  error: (iss) => `invalid user name ${describe(iss.input)} (expected at most 32 lowercase letters, digits, '_' and '-', starting with a letter or '_')`,
}).refine((u) => u !== 'root', { error: 'root is the gateway, not an app user (expected a user of its own, or leave run_as out)' });

/** A listen address nginx takes as is: an IPv4 address or host name, or an IPv6 address (bracketed when rendered). */
const address = z.string().regex(/^(?:[A-Za-z0-9][A-Za-z0-9.-]*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/, {
  error: (iss) => `got ${describe(iss.input)} (expected an IP address or host name, like 127.0.0.1 or ::1)`,
});

/** A file path handed to nginx or a shell: one line, no nginx syntax characters. */
const filePath = z.string().regex(/^[^\x00-\x1f\x7f;{}"'\\$\s]+$/, {
  error: (iss) => `got ${describe(iss.input)} (expected a path without spaces, quotes, ';', '{', '}' or '$')`,
});

const nginx = strict({
  managed: optional(flag),
  address: optional(address),
  http_port: optional(port),
  https_port: optional(port),
  conf_dir: optional(filePath),
  test_cmd: optional(nonEmpty),
  reload_cmd: optional(nonEmpty),
  templates: optional(filePath),
  binary: optional(filePath),
}).superRefine((n, ctx) => {
  if (n.managed === false && n.conf_dir === undefined) {
    ctx.addIssue({ code: 'custom', path: ['conf_dir'], message: "missing (expected the folder the system nginx includes, e.g. /etc/nginx/sites-enabled, when 'managed: false')" });
  }
  if (n.managed === true && n.conf_dir !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['conf_dir'], message: "a managed nginx keeps its files in the data dir (expected no conf_dir with 'managed: true')" });
  }
  const systemOnly = (['test_cmd', 'reload_cmd'] as const).filter((k) => n[k] !== undefined);
  if (n.conf_dir === undefined) {
    for (const k of systemOnly) ctx.addIssue({ code: 'custom', path: [k], message: "only for the system nginx (expected with 'conf_dir')" });
  }
}).transform((n): NginxSettings => ({
  managed: n.conf_dir === undefined,
  address: n.address,
  httpPort: n.http_port ?? 80,
  httpsPort: n.https_port ?? 443,
  confDir: n.conf_dir,
  testCmd: n.test_cmd ?? 'nginx -t',
  reloadCmd: n.reload_cmd ?? 'nginx -s reload',
  templates: n.templates,
  binary: n.binary,
}));

const ROLE_FORMS = 'admin, {deploy: [repo, …]} or {read: [repo, …]}';
const role = z.union(
  [z.literal('admin'), strict({ deploy: z.array(z.string()) }), strict({ read: z.array(z.string()) })],
  expecting(ROLE_FORMS),
).transform((r): Role => (r === 'admin' ? { kind: 'admin' } : 'deploy' in r ? { kind: 'deploy', repos: r.deploy } : { kind: 'read', repos: r.read }));

/** Keys pyPaaS needed for daemontools; accepted so its config loads, then ignored with a warning. */
const IGNORED_MAIN_KEYS = ['runner_runscript_template', 'runner_logscript_template'] as const;

export const mainFileSchema = fileRoot(strict({
  listen: optional(listen),
  ports: optional(strict({ min: port, max: port })),
  keep_releases: optional(positiveInt),
  drain_seconds: optional(secondsOrZero),
  watch_config: optional(flag),
  nginx: mapping(nginx),
  deploy_logger_cmd: optional(nonEmpty),
  ssl_config: optional(text),
  limits: mapping(limits),
  ssh: mapping(ssh),
  logs: mapping(logs),
  gc: mapping(gcSettings),
  isolation: optional(isolation),
  app_limits: mapping(appLimits),
  // `users:` with nothing under it is an empty list (nobody), never the admin-for-all default.
  users: record(z.string(), role).nullish().transform((u) => (u === undefined ? null : u ?? {})),
  runner_runscript_template: optional(text),
  runner_logscript_template: optional(text),
})).superRefine((m, ctx) => {
  if (m.ports && m.ports.min >= m.ports.max) {
    ctx.addIssue({ code: 'custom', path: ['ports', 'max'], message: `${m.ports.max} is not above min ${m.ports.min} (expected min < max; max is exclusive)` });
  }
  const ports = m.ports ?? DEFAULT_PORTS;
  const listenPort = m.listen?.port ?? DEFAULT_LISTEN.port;
  if (listenPort >= ports.min && listenPort < ports.max) {
    ctx.addIssue({ code: 'custom', path: ['ports'], message: `the range ${ports.min}-${ports.max - 1} holds the listen port ${listenPort} (expected a range without it)` });
  }
}).transform((m): GlobalConfig & { ignoredKeys: string[] } => ({
  listen: m.listen ?? DEFAULT_LISTEN,
  ports: m.ports ?? DEFAULT_PORTS,
  limits: m.limits,
  ssh: m.ssh,
  logs: m.logs,
  gc: m.gc,
  isolation: m.isolation,
  appLimits: { ...DEFAULT_APP_LIMITS, ...m.app_limits },
  keepReleases: m.keep_releases ?? DEFAULT_KEEP_RELEASES,
  drainSeconds: m.drain_seconds ?? DEFAULT_DRAIN_SECONDS,
  watchConfig: m.watch_config ?? true,
  nginx: m.nginx,
  deployLoggerCmd: m.deploy_logger_cmd,
  sslConfig: m.ssl_config,
  users: m.users,
  ignoredKeys: IGNORED_MAIN_KEYS.filter((k) => m[k] !== undefined),
}));

// ---------------------------------------------------------------- repos/<repo>.yml

function runnerNameError(name: string): string | null {
  if (/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) return null;
  return `invalid runner name '${name}' (expected letters, digits, '_' and '-', starting with a letter or digit)`;
}

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  error: (iss) => `invalid variable name '${String(iss.input)}' (expected letters, digits and '_', not starting with a digit)`,
});

/** Typed after `custom_cmds <repo> <branch>` in an ssh command line: one word. */
const customCmdName = z.string().regex(/^[^\s-]\S*$/, {
  error: (iss) => `invalid command name '${String(iss.input)}' (expected one word, not starting with '-')`,
});

/** NginxStatic's folder inside the checkout. pyPaaS stripped leading and trailing slashes; so do we. */
const subdirectory = z.string().transform((v, ctx) => {
  const parts = v.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    ctx.addIssue({ code: 'custom', message: `'${v}' leaves the checkout (expected a folder inside it, without '..')` });
    return z.NEVER;
  }
  return parts.join('/');
});

const healthcheck = strict({
  path: z.string(expecting("a URL path like '/health'")).startsWith('/', { error: (iss) => `got ${describe(iss.input)} (expected a URL path starting with '/')` }),
  timeout: optional(seconds),
}).transform((h) => ({ path: h.path, timeout: h.timeout ?? DEFAULT_HEALTHCHECK_TIMEOUT }));

const runner = strict({
  type: z.enum(RUNNER_TYPES, {
    error: (iss) => (iss.input === undefined ? undefined : `unknown runner type '${String(iss.input)}' (expected ${RUNNER_TYPES.join(', ')})`),
  }),
  cmd: optional(nonEmpty),
  process_count: optional(positiveInt),
  subdirectory: optional(subdirectory),
  nginx_extra_config: optional(text),
  nginx_extra_upstream_config: optional(text),
  nginx_proxy_path: optional(text),
  healthcheck: optional(healthcheck),
}).superRefine((r, ctx) => {
  if (r.type !== 'NginxStatic' && r.cmd === undefined) {
    ctx.addIssue({ code: 'custom', message: "missing 'cmd' (the command that starts the process)" });
  }
  if (r.healthcheck && r.type !== 'NginxBackend') {
    ctx.addIssue({ code: 'custom', path: ['healthcheck'], message: `a ${r.type} runner cannot be health-checked (expected only on NginxBackend runners, which speak HTTP)` });
  }
}).transform((r): Omit<RunnerConfig, 'name'> => ({
  type: r.type,
  cmd: r.cmd,
  processCount: r.process_count ?? 1,
  subdirectory: r.subdirectory,
  nginxExtraConfig: r.nginx_extra_config,
  nginxExtraUpstreamConfig: r.nginx_extra_upstream_config,
  nginxProxyPath: r.nginx_proxy_path,
  healthcheck: r.healthcheck,
}));

/** Numbers and booleans become strings (load.ts then restores the text as written). */
const envValue = z.union([z.string(), z.number(), z.boolean()], expecting('a string, number or boolean')).transform(String);

function branchSchema(defaultKeepReleases: number) {
  return mapping(strict({
    runners: mapping(named(runner, runnerNameError)),
    env: mapping(record(envName, envValue)),
    hooks: mapping(strict({ build: optional(commands), maintenance: optional(commands) })),
    custom_cmds: mapping(record(customCmdName, nonEmpty)),
    keep_releases: optional(positiveInt),
    drain_seconds: optional(secondsOrZero),
  })).transform((b): Omit<BranchConfig, 'name'> => ({
    runners: b.runners,
    env: b.env,
    hooks: { build: b.hooks.build ?? null, maintenance: b.hooks.maintenance ?? [] },
    customCmds: b.custom_cmds,
    keepReleases: b.keep_releases ?? defaultKeepReleases,
    drainSeconds: b.drain_seconds,
  }));
}

export function repoFileSchema(defaultKeepReleases: number) {
  return fileRoot(strict({
    branches: mapping(named(branchSchema(defaultKeepReleases), invalidBranchName)),
    run_as: optional(runAs),
    isolation: optional(isolation),
    limits: mapping(appLimits),
  })).superRefine((r, ctx) => {
    if (Object.keys(r.branches).length === 0) {
      ctx.addIssue({ code: 'custom', message: "no branches configured (expected 'branches:' with at least one branch)" });
    }
  });
}

/** The config's wording of git's branch name rules. */
function invalidBranchName(name: string): string | null {
  const reason = branchNameError(name);
  return reason && `invalid branch name '${printable(name)}': ${reason} (expected a valid git branch name)`;
}

// ---------------------------------------------------------------- domains/<domain>.yml

const upstream = strict({ repo: nonEmpty, branch: nonEmpty, runner: nonEmpty });

/**
 * Used verbatim after nginx's `location`, so `~ ^/api` works. A line break, or `;`, `{`, `}`
 * outside double quotes, would end the location early and let the rest become directives.
 */
const locationPath = z.string().superRefine((v, ctx) => {
  const unquoted = v.replace(/"(?:[^"\\]|\\.)*"/g, 'Q');
  if (/[\x00-\x1f\x7f]/.test(v)) ctx.addIssue({ code: 'custom', message: 'a location spans several lines (expected one line, like / or ~ ^/api)' });
  else if (/[;{}"]/.test(unquoted)) ctx.addIssue({ code: 'custom', message: `'${v}' holds ';', '{', '}' or an unclosed quote (expected a path like /api, or a regex in double quotes: ~ "^/a{2}")` });
});

const location = strict({
  upstream,
  maintenance_upstream: optional(upstream),
  nginx_extra_config: optional(text),
});

export function domainFileSchema(domain: string, globalSslConfig: string | undefined) {
  const certDir = `/etc/ssl/private/httpd/${domain}`;
  return fileRoot(strict({
    locations: mapping(z.record(locationPath, location)),
    nginx_http_extra_config: optional(text),
    nginx_https_extra_config: optional(text),
    ssl: optional(flag),
    extra_listen_options: optional(text),
    ssl_certificate: optional(filePath),
    ssl_certificate_key: optional(filePath),
    ssl_certificate_chain: optional(filePath),
    ssl_config: optional(text),
  })).superRefine((d, ctx) => {
    if (Object.keys(d.locations).length === 0) {
      ctx.addIssue({ code: 'custom', message: "no locations configured (expected 'locations:' with at least one path)" });
    }
  }).transform((d): Omit<DomainConfig, 'name' | 'file'> => ({
    locations: Object.entries(d.locations).map(([path, l]): LocationConfig => ({
      path,
      upstream: l.upstream,
      maintenanceUpstream: l.maintenance_upstream,
      nginxExtraConfig: l.nginx_extra_config,
    })),
    ssl: d.ssl ?? true,
    nginxHttpExtraConfig: d.nginx_http_extra_config,
    nginxHttpsExtraConfig: d.nginx_https_extra_config,
    extraListenOptions: d.extra_listen_options,
    sslCertificate: d.ssl_certificate ?? `${certDir}/${domain}.crt`,
    sslCertificateKey: d.ssl_certificate_key ?? `${certDir}/${domain}.key`,
    sslCertificateChain: d.ssl_certificate_chain ?? `${certDir}/trusted_chain.crt`,
    sslConfig: d.ssl_config ?? globalSslConfig,
  }));
}
