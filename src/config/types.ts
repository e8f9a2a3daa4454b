/**
 * The typed, validated configuration. Built once by `loadConfig`; nothing downstream re-reads YAML.
 * All values are plain data so a reload can build a new one and swap it atomically.
 */

export type RunnerType = 'SimpleProcess' | 'NginxBackend' | 'UwsgiNginxBackend' | 'NginxStatic';

/** What a user may do. `admin`: everything; `deploy`: push/clone/operate listed repos; `read`: clone/status/logs of listed repos. */
export type Role =
  | { kind: 'admin' }
  | { kind: 'deploy'; repos: string[] }
  | { kind: 'read'; repos: string[] };

export interface Limits {
  /** Concurrent logged-in SSH connections, all users together. */
  maxConnections: number;
  /** Connections not logged in yet, all sources together; the oldest is dropped for a new one. */
  maxUnauthenticated: number;
  /** Connections not logged in yet from one IPv4 address or IPv6 /64. */
  maxUnauthenticatedPerSource: number;
  /** Milliseconds of penalty a source earns per connection that failed to log in or timed out. */
  penaltyMs: number;
  /** The most penalty a source can accumulate, in milliseconds. */
  penaltyMaxMs: number;
  /** Authentication attempts (keys offered or methods tried) per connection. */
  maxAuthAttempts: number;
  /** Milliseconds from TCP accept until authenticated. */
  handshakeTimeoutMs: number;
  /** Milliseconds without channel data either way (keepalives do not count) before a logged-in connection is closed. */
  idleTimeoutMs: number;
  /** Logged-in connections of one user at once. */
  maxConnectionsPerUser: number;
  /** Sessions (commands, git operations, dashboards) of one user at once, over all its connections. */
  maxSessionsPerUser: number;
  /** Largest pack accepted by a push, in bytes. */
  maxPackBytes: number;
  /** Open session channels per connection. */
  maxSessionsPerConnection: number;
  // What one push may make the gateway do (src/git/push-limits.ts), and one checkout.
  /** Largest object of a push, inflated, in bytes. */
  maxObjectBytes: number;
  /** Longest delta chain a pushed pack may hold. */
  maxDeltaDepth: number;
  /** All objects of one push together, inflated, in bytes. */
  maxPushInflatedBytes: number;
  /** Ref updates in one push. */
  maxRefsPerPush: number;
  /** Refs one repo may hold. */
  maxRefsPerRepo: number;
  /** A pushed commit's or tag's message, in bytes. */
  maxMessageBytes: number;
  /** Entries of one pushed tree. */
  maxTreeEntries: number;
  /** Files a deploy's checkout may write. */
  maxCheckoutFiles: number;
  /** Bytes a deploy's checkout may write. */
  maxCheckoutBytes: number;
}

/**
 * How far a repo's code (builds, apps, custom commands) is kept from the gateway and from other
 * repos. `sandbox`: its own system user inside a bwrap sandbox; `user`: its own system user;
 * `none`: the gateway's own user (the operator accepts that deploy roles are shells).
 */
export type IsolationMode = 'sandbox' | 'user' | 'none';

/** Per repo (each repo has its own uid, so per-uid limits are per app). */
export interface AppLimits {
  /** RLIMIT_NPROC of the repo's user: processes and threads of all its builds and apps together */
  processes: number;
  /** RLIMIT_NOFILE per process */
  openFiles: number;
  /** RLIMIT_AS (address space) per process, bytes */
  memoryBytes: number;
  /** a build or maintenance command running longer is killed with its whole process group */
  buildTimeoutMs: number;
}

export interface HealthCheck {
  path: string;
  /** seconds */
  timeout: number;
}

export interface RunnerConfig {
  name: string;
  type: RunnerType;
  cmd?: string;
  processCount: number;
  subdirectory?: string;
  nginxExtraConfig?: string;
  nginxExtraUpstreamConfig?: string;
  nginxProxyPath?: string;
  healthcheck?: HealthCheck;
}

export interface BranchConfig {
  name: string;
  runners: Record<string, RunnerConfig>;
  env: Record<string, string>;
  hooks: {
    /** null = pyPaaS default (run ./.build.sh if present). */
    build: string[] | null;
    maintenance: string[];
  };
  customCmds: Record<string, string>;
  keepReleases: number;
  /** seconds old processes keep running after traffic moved away; undefined: the global value */
  drainSeconds?: number;
}

export interface RepoConfig {
  name: string;
  /** Path of the file this came from, relative to the config dir (for messages). */
  file: string;
  branches: Record<string, BranchConfig>;
  /** `run_as`: the system user its code runs as (default `slipway-<repo>`, see runners/app-users.ts) */
  runAs?: string;
  /** overrides the global `isolation` */
  isolation?: IsolationMode;
  /** the global `app_limits` with this repo's `limits` over them */
  limits: AppLimits;
}

export interface UpstreamRef {
  repo: string;
  branch: string;
  runner: string;
}

export interface LocationConfig {
  path: string;
  upstream: UpstreamRef;
  maintenanceUpstream?: UpstreamRef;
  nginxExtraConfig?: string;
}

export interface DomainConfig {
  name: string;
  file: string;
  locations: LocationConfig[];
  ssl: boolean;
  nginxHttpExtraConfig?: string;
  nginxHttpsExtraConfig?: string;
  extraListenOptions?: string;
  sslCertificate: string;
  sslCertificateKey: string;
  sslCertificateChain: string;
  sslConfig?: string;
}

export interface PublicKey {
  /** user name: the key file's name without `.pub` */
  user: string;
  /** e.g. ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 */
  algo: string;
  /** the key blob as sent on the SSH wire (base64-decoded second field) */
  blob: Buffer;
  comment: string;
  /** `SHA256:…` as OpenSSH prints it */
  fingerprint: string;
  /** where it was read, e.g. `keys/alice.pub:3` */
  source: string;
}

export interface LogLimits {
  /** rotate an app's log file when it reaches this size */
  maxBytes: number;
  /** rotated files kept besides the live one */
  keep: number;
}

/** `gc:` in slipway.yml: when repos are garbage-collected and what a gc keeps. */
export interface GcSettings {
  /** unreachable objects younger than this are kept */
  graceMs: number;
  /** a push that leaves more packs than this starts a gc in the background; 0: never */
  autoPacks: number;
  /** likewise for loose objects; 0: never */
  autoLoose: number;
}

/** `nginx:` in slipway.yml. Managed (slipway runs its own master) unless `confDir` is given. */
export interface NginxSettings {
  /** false: the system nginx includes `confDir/*.conf` (pyPaaS style) */
  managed: boolean;
  /** listen address of the managed nginx's servers; undefined: all addresses */
  address?: string;
  httpPort: number;
  httpsPort: number;
  confDir?: string;
  testCmd: string;
  reloadCmd: string;
  /** a folder of templates overriding slipway's, as written (relative to the config dir) */
  templates?: string;
  /** the nginx binary; undefined: found on PATH, /usr/sbin or /usr/local/sbin */
  binary?: string;
}

/** How the SSH door trades compatibility with old clients against safety. */
export interface SshSettings {
  /** Accept `ssh-rsa` (RSA with SHA-1) signatures from client keys. */
  rsaSha1Signatures: boolean;
  /** Offer the ECDSA P-256 host key besides ed25519 and RSA (read at start only). */
  ecdsaHostKey: boolean;
}

export interface GlobalConfig {
  listen: { host: string; port: number };
  /** Backend port range; `max` is exclusive (pyPaaS). */
  ports: { min: number; max: number };
  limits: Limits;
  ssh: SshSettings;
  logs: LogLimits;
  gc: GcSettings;
  keepReleases: number;
  /** default seconds old processes keep running after a switch */
  drainSeconds: number;
  /** apply changes to the config dir as they happen (read at start); false: only `reload` and SIGHUP */
  watchConfig: boolean;
  nginx: NginxSettings;
  deployLoggerCmd?: string;
  sslConfig?: string;
  /** undefined: the strongest that works here (sandbox where bwrap works, else user; none unless root) */
  isolation?: IsolationMode;
  appLimits: AppLimits;
  /** null: no `users` section, every key is an admin (pyPaaS behaviour). */
  users: Record<string, Role> | null;
}

export interface Config {
  /** absolute path of the config dir */
  dir: string;
  /** `slipway.yml` or `pypaas.yml` */
  mainFile: string;
  global: GlobalConfig;
  repos: Record<string, RepoConfig>;
  domains: Record<string, DomainConfig>;
  keys: PublicKey[];
}

/** One problem found while loading: `file: key.path: what is wrong`. */
export interface ConfigProblem {
  file: string;
  path: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return p.path ? `${p.file}: ${p.path}: ${p.message}` : `${p.file}: ${p.message}`;
}
