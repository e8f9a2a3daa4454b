import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { CORE_SCHEMA, FAILSAFE_SCHEMA, loadAll, mergeTag, YAMLException, type Schema } from 'js-yaml';
import { parsePublicKeyFile } from './keys.ts';
import { validate } from './problems.ts';
import { DEFAULT_APP_LIMITS, DEFAULT_KEEP_RELEASES, dict, domainFileSchema, mainFileSchema, repoFileSchema } from './schema.ts';
import type { AppLimits, Config, ConfigProblem, DomainConfig, GlobalConfig, PublicKey, RepoConfig, UpstreamRef } from './types.ts';

/**
 * Loads and validates a whole config dir into one typed value. Reports every problem it finds
 * (never stops at the first) and never throws for bad input.
 */

export type LoadResult =
  | { config: Config; warnings: ConfigProblem[] }
  | { problems: ConfigProblem[]; warnings: ConfigProblem[] };

interface Findings {
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** YAML 1.2 plus `<<` merge keys, which pyPaaS's PyYAML understood. */
const TYPED_YAML = CORE_SCHEMA.withTags(mergeTag);
/** Every scalar as written, for env values (`1.10` must not become `1.1`). */
const TEXT_YAML = FAILSAFE_SCHEMA.withTags(mergeTag);

const MAIN_FILES = ['slipway.yml', 'pypaas.yml'];
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DOMAIN_NAME = /^[A-Za-z0-9_*][A-Za-z0-9._*-]*$/;

export function loadConfig(dir: string): LoadResult {
  const result = loadDir(dir);
  const warnings = result.warnings.map(oneLine);
  return 'config' in result ? { config: result.config, warnings } : { problems: result.problems.map(oneLine), warnings };
}

/** Names come from files and file names: keep every problem on one line whatever they hold. */
function oneLine(p: ConfigProblem): ConfigProblem {
  const escape = (text: string) => text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return { file: escape(p.file), path: escape(p.path), message: escape(p.message) };
}

function loadDir(dir: string): LoadResult {
  const root = resolve(dir);
  const found: Findings = { problems: [], warnings: [] };
  if (!isDirectory(root)) {
    found.problems.push({ file: dir, path: '', message: 'config directory not found (expected a directory holding slipway.yml or pypaas.yml)' });
    return found;
  }
  const mainFile = pickMainFile(root, found);
  const global = loadGlobal(root, mainFile, found);
  const repoFiles = yamlFiles(root, 'repos', found);
  const repos = loadRepos(root, repoFiles, global?.keepReleases ?? DEFAULT_KEEP_RELEASES, global?.appLimits ?? DEFAULT_APP_LIMITS, found);
  const domains = loadDomains(root, global?.sslConfig, found);
  const known = { repos, repoFiles: new Set(repoFiles.keys()) };
  for (const domain of Object.values(domains)) checkLocations(domain, known, found);
  const keys = loadKeys(root, found);
  if (global?.users) checkUsers(global.users, mainFile, keys, known, found);
  if (found.problems.length > 0 || !global) return found;
  // Who may log in is access.ts's decision (mayLogIn), not the loader's: every key is kept.
  return { config: { dir: root, mainFile, global, repos, domains, keys }, warnings: found.warnings };
}

// ---------------------------------------------------------------- files and YAML

/** Stats following links; undefined when missing, a dangling link or unreadable. */
function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function isDirectory(path: string): boolean {
  return stat(path)?.isDirectory() ?? false;
}

function isFile(path: string): boolean {
  return stat(path)?.isFile() ?? false;
}

/** Names in `<root>/<dir>`, sorted; a missing dir is empty, an unreadable one a problem. */
function listDir(root: string, dir: string, found: Findings): string[] {
  if (!isDirectory(join(root, dir))) return [];
  try {
    return readdirSync(join(root, dir)).sort();
  } catch (err) {
    found.problems.push({ file: `${dir}/`, path: '', message: `cannot read: ${errorText(err)}` });
    return [];
  }
}

function errorText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

function pickMainFile(root: string, found: Findings): string {
  const present = MAIN_FILES.filter((f) => stat(join(root, f)));
  if (present.length > 1) {
    found.problems.push({ file: 'pypaas.yml', path: '', message: 'both slipway.yml and pypaas.yml exist (keep one; slipway.yml is read)' });
  }
  return present[0] ?? MAIN_FILES[0]!;
}

/** The file's YAML value (null when empty), or undefined after recording why it is unreadable. */
function readYaml(root: string, file: string, found: Findings, schema: Schema = TYPED_YAML): unknown {
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch (err) {
    found.problems.push({ file, path: '', message: `cannot read: ${errorText(err)}` });
    return undefined;
  }
  try {
    const documents = loadAll(text, { schema, filename: file });
    if (documents.length <= 1) return documents[0] ?? null;
    found.problems.push({ file, path: '', message: `holds ${documents.length} YAML documents (expected one)` });
  } catch (err) {
    // js-yaml asks callers to catch everything, not only YAMLException.
    const yamlError = err instanceof YAMLException ? err : undefined;
    const where = yamlError?.mark ? `line ${yamlError.mark.line + 1}` : '';
    found.problems.push({ file, path: where, message: `invalid YAML: ${yamlError?.reason ?? String(err)} (fix the syntax)` });
  }
  return undefined;
}

/** `<dir>/<name>.yml` (or `.yaml`) by name, sorted; the same name twice is a problem. */
function yamlFiles(root: string, dir: string, found: Findings): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of listDir(root, dir, found)) {
    const match = /^([^.].*)\.ya?ml$/.exec(entry);
    if (!match || !isFile(join(root, dir, entry))) continue;
    const name = match[1]!;
    const file = `${dir}/${entry}`;
    const other = files.get(name);
    if (other) found.problems.push({ file, path: '', message: `'${name}' is also defined in ${other} (keep one file)` });
    else files.set(name, file);
  }
  return files;
}

// ---------------------------------------------------------------- the three file kinds

function loadGlobal(root: string, mainFile: string, found: Findings): GlobalConfig | undefined {
  const data = stat(join(root, mainFile)) ? readYaml(root, mainFile, found) : null;
  if (data === undefined) return undefined;
  const result = validate(mainFileSchema, data, mainFile);
  if ('problems' in result) {
    found.problems.push(...result.problems);
    return undefined;
  }
  const { ignoredKeys, ...global } = result.value;
  for (const key of ignoredKeys) {
    found.warnings.push({ file: mainFile, path: key, message: 'ignored: slipway supervises processes itself (no daemontools run scripts)' });
  }
  if (global.users && Object.keys(global.users).length === 0) {
    found.warnings.push({ file: mainFile, path: 'users', message: 'no users listed (every key will be refused)' });
  }
  return global;
}

function loadRepos(root: string, files: Map<string, string>, keepReleases: number, appLimits: AppLimits, found: Findings): Record<string, RepoConfig> {
  const repos = dict<RepoConfig>([]);
  for (const [name, file] of files) {
    const nameOk = REPO_NAME.test(name) && !name.endsWith('.git');
    if (!nameOk) {
      found.problems.push({ file, path: '', message: `invalid repo name '${name}' (expected letters, digits, '.', '_' and '-', starting with a letter or digit, not ending in .git)` });
    }
    const data = readYaml(root, file, found);
    if (data === undefined) continue;
    const text = readYaml(root, file, scratch(), TEXT_YAML);
    const retyped = branchKeysRetyped(data, text);
    for (const key of retyped) {
      found.problems.push({
        file,
        path: `branches.${key}`,
        message: `YAML reads the branch name ${key} as ${describeScalar(key)}, not as written (quote it: '${key}':)`,
      });
    }
    const result = validate(repoFileSchema(keepReleases), data, file);
    if ('problems' in result) {
      found.problems.push(...result.problems);
    } else if (nameOk && retyped.length === 0) {
      const branches = withEnvAsWritten(result.value.branches, text);
      const { run_as: runAs, isolation, limits } = result.value;
      repos[name] = { name, file, branches, ...(runAs ? { runAs } : {}), ...(isolation ? { isolation } : {}), limits: { ...appLimits, ...limits } };
    }
  }
  return repos;
}

/**
 * Branch keys YAML turned into something else than what the file spells (`5.0:` is the number 5,
 * `~:` is null): the keys as written that the typed read does not have.
 */
function branchKeysRetyped(typed: unknown, text: unknown): string[] {
  const keys = (doc: unknown) => {
    const b = (doc as { branches?: unknown } | null)?.branches;
    return b && typeof b === 'object' && !Array.isArray(b) ? Object.keys(b) : [];
  };
  const typedKeys = new Set(keys(typed));
  return keys(text).filter((k) => !typedKeys.has(k));
}

function describeScalar(key: string): string {
  let value: unknown;
  try {
    value = loadAll(key, { schema: TYPED_YAML })[0];
  } catch {
    return 'something else';
  }
  return value === null || value === undefined ? 'null' : `the ${typeof value} ${String(value)}`;
}

/** Findings that are thrown away (a second read of a file already checked). */
function scratch(): Findings {
  return { problems: [], warnings: [] };
}

/** Env values exactly as the file spells them (`1.10`, `yes`, `0755`), not as YAML typed them. */
function withEnvAsWritten(branches: RepoConfig['branches'], text: unknown): RepoConfig['branches'] {
  const textBranches = (text as { branches?: Record<string, { env?: Record<string, unknown> } | null> } | null)?.branches;
  for (const [name, branch] of Object.entries(branches)) {
    const written = textBranches?.[name]?.env ?? {};
    for (const key of Object.keys(branch.env)) {
      if (typeof written[key] === 'string') branch.env[key] = written[key];
    }
  }
  return branches;
}

function loadDomains(root: string, globalSslConfig: string | undefined, found: Findings): Record<string, DomainConfig> {
  const domains = dict<DomainConfig>([]);
  for (const [name, file] of yamlFiles(root, 'domains', found)) {
    const nameOk = DOMAIN_NAME.test(name);
    if (!nameOk) {
      found.problems.push({ file, path: '', message: `invalid domain name '${name}' (expected a host name like example.com or *.example.com)` });
    }
    const data = readYaml(root, file, found);
    if (data === undefined) continue;
    const result = validate(domainFileSchema(name, globalSslConfig), data, file);
    if ('problems' in result) found.problems.push(...result.problems);
    else if (nameOk) domains[name] = { name, file, ...result.value };
  }
  return domains;
}

// ---------------------------------------------------------------- cross-checks

interface Known {
  /** repos that loaded without problems */
  repos: Record<string, RepoConfig>;
  /** every repo file found: a broken one has its own problems and is not reported again */
  repoFiles: Set<string>;
}

function checkLocations(domain: DomainConfig, known: Known, found: Findings): void {
  for (const location of domain.locations) {
    const refs: [string, UpstreamRef | undefined][] = [['upstream', location.upstream], ['maintenance_upstream', location.maintenanceUpstream]];
    for (const [key, ref] of refs) {
      const message = ref && upstreamError(ref, known);
      if (message) found.problems.push({ file: domain.file, path: `locations.${location.path}.${key}.${message.key}`, message: message.text });
    }
  }
}

/** What is wrong with a location's upstream, naming the key at fault; null when it is fine. */
function upstreamError(ref: UpstreamRef, known: Known): { key: keyof UpstreamRef; text: string } | null {
  const repo = known.repos[ref.repo];
  if (!repo) {
    if (known.repoFiles.has(ref.repo)) return null;
    return { key: 'repo', text: `unknown repo '${ref.repo}' (configured: ${listOf(Object.keys(known.repos))})` };
  }
  const branch = repo.branches[ref.branch];
  if (!branch) return { key: 'branch', text: `unknown branch '${ref.branch}' of repo '${ref.repo}' (configured: ${listOf(Object.keys(repo.branches))})` };
  const runner = branch.runners[ref.runner];
  if (!runner) return { key: 'runner', text: `unknown runner '${ref.runner}' in ${ref.repo} ${ref.branch} (configured: ${listOf(Object.keys(branch.runners))})` };
  if (runner.type === 'SimpleProcess') {
    return { key: 'runner', text: `runner '${ref.runner}' is a SimpleProcess, which nginx cannot serve (expected an NginxBackend, UwsgiNginxBackend or NginxStatic runner)` };
  }
  return null;
}

function checkUsers(users: NonNullable<GlobalConfig['users']>, mainFile: string, keys: PublicKey[], known: Known, found: Findings): void {
  const withKeys = new Set(keys.map((k) => k.user));
  for (const [user, role] of Object.entries(users)) {
    if (role.kind !== 'admin') {
      for (const repo of role.repos) {
        if (!known.repoFiles.has(repo)) {
          found.problems.push({ file: mainFile, path: `users.${user}.${role.kind}`, message: `unknown repo '${repo}' (configured: ${listOf(Object.keys(known.repos))})` });
        }
      }
    }
    if (!withKeys.has(user)) {
      found.warnings.push({ file: mainFile, path: `users.${user}`, message: `no key for ${user} (expected keys/${user}.pub; ${user} cannot log in)` });
    }
  }
  const unlisted = new Map(keys.filter((k) => !users[k.user]).map((k) => [k.user, k.source.replace(/:\d+$/, '')]));
  for (const [user, file] of unlisted) {
    found.warnings.push({ file, path: '', message: `user '${user}' is not listed in users (their keys will be refused)` });
  }
}

function listOf(names: string[]): string {
  return names.length > 0 ? names.join(', ') : 'none';
}

// ---------------------------------------------------------------- keys

/** Every key in keys/; the user is the file name minus `.pub`. One key may belong to one user only. */
function loadKeys(root: string, found: Findings): PublicKey[] {
  const keys: PublicKey[] = [];
  const owner = new Map<string, PublicKey>();
  const names = listDir(root, 'keys', found).filter((name) => !name.startsWith('.') && isFile(join(root, 'keys', name)));
  for (const name of names) {
    const file = `keys/${name}`;
    let text: string;
    try {
      text = readFileSync(join(root, file), 'utf8');
    } catch (err) {
      found.problems.push({ file, path: '', message: `cannot read: ${errorText(err)}` });
      continue;
    }
    const parsed = parsePublicKeyFile(text, file, name.replace(/\.pub$/, ''));
    found.problems.push(...parsed.problems);
    if (parsed.keys.length === 0 && parsed.problems.length === 0) {
      found.warnings.push({ file, path: '', message: "no keys in this file (expected lines like 'ssh-ed25519 AAAA… comment')" });
    }
    for (const key of parsed.keys) {
      const first = owner.get(key.fingerprint);
      if (first && first.user !== key.user) {
        found.problems.push({ file, path: `line ${key.source.split(':').at(-1)}`, message: `this key is also in ${first.source} (user ${first.user}; a key must belong to one user)` });
      }
      if (!first) owner.set(key.fingerprint, key);
      keys.push(key);
    }
  }
  if (keys.length === 0) found.warnings.push({ file: 'keys/', path: '', message: 'no keys: nobody can log in (expected keys/<user>.pub files)' });
  return keys;
}
