/**
 * Deterministic test repositories for the benchmark, generated with a seeded PRNG and committed with
 * the local git CLI, cached under bench/.work/repos/<REPO_VERSION>-<name>/ so reruns are instant.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Bump when the generator changes so stale caches are not reused. */
export const REPO_VERSION = 'v2';

export interface HistorySpec {
  kind: 'history';
  name: string;
  seed: number;
  files: number;
  /** share of files that are incompressible random binaries */
  binaryShare: number;
  textMeanBytes: number;
  binaryMeanBytes: number;
  /** commits after the initial one, each modifying `modifyShare` of the files */
  historyCommits: number;
  modifyShare: number;
  /** files modified by the final ("incremental") commit */
  incrementalFiles: number;
}

export interface BlobSpec {
  kind: 'blobs';
  name: string;
  seed: number;
  /** one commit holding this many random (incompressible) files */
  files: number;
  fileBytes: number;
}

export type RepoSpec = HistorySpec | BlobSpec;

export interface GeneratedRepo {
  name: string;
  /** non-bare working repo, branch main */
  dir: string;
  head: string;
  /** HEAD~1 (for blob repos: same as head) */
  parent: string;
  commits: number;
  files: number;
  /** size of the checked-out tree at HEAD */
  treeBytes: number;
  /** size of the repo's pack(s) after `git gc` */
  packBytes: number;
  /** objects in the incremental commit's pack, roughly: files changed by HEAD */
  incrementalFiles: number;
}

export const SPECS = {
  full: {
    kind: 'history',
    name: 'history-full',
    seed: 0x511b,
    files: 3500,
    binaryShare: 0.08,
    textMeanBytes: 10_000,
    binaryMeanBytes: 60_000,
    historyCommits: 20,
    modifyShare: 0.03,
    incrementalFiles: 50,
  },
  quick: {
    kind: 'history',
    name: 'history-quick',
    seed: 0x511b,
    files: 300,
    binaryShare: 0.08,
    textMeanBytes: 10_000,
    binaryMeanBytes: 60_000,
    historyCommits: 20,
    modifyShare: 0.03,
    incrementalFiles: 20,
  },
  // More than git's receive.unpackLimit (100) objects, so native git keeps the pushed pack as-is.
  bigFull: { kind: 'blobs', name: 'blobs-100m', seed: 0xb16, files: 200, fileBytes: 512 * 1024 },
  bigQuick: { kind: 'blobs', name: 'blobs-10m', seed: 0xb16, files: 40, fileBytes: 256 * 1024 },
} satisfies Record<string, RepoSpec>;

// ---------------------------------------------------------------- PRNG

/** mulberry32: tiny, fast, good enough for test data. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** exponential-ish size with the given mean, clamped */
  size(mean: number, min: number, max: number): number {
    const v = Math.round(-Math.log(1 - this.next()) * mean);
    return Math.max(min, Math.min(max, v));
  }
}

/** Deterministic incompressible bytes: AES-128-CTR keystream keyed by (seed, label). */
function randomBytes(seed: number, label: string, n: number): Buffer {
  const key = createHash('sha256').update(`${seed}:${label}`).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

// ---------------------------------------------------------------- text content

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ra', 'to', 'su', 'vi', 'ex', 'an', 'or', 'ul', 'pe', 'qu', 'zi', 'da', 'fo', 'gr', 'th', 'st', 'in', 'er'];
const TOKENS = ['{', '}', '(', ')', ';', '=', '=>', '+', '.', ',', 'return', 'const', 'let', 'if', 'else', 'for', 'function', 'import', 'from', 'export', '//', '0', '1', '42', 'null', 'true', 'false', 'await', 'new', 'this'];
const TEXT_EXT = ['ts', 'js', 'py', 'md', 'json', 'css', 'html', 'txt', 'yml', 'go'];
const BIN_EXT = ['png', 'jpg', 'bin', 'woff2', 'gz', 'wasm'];

function makeVocab(rng: Rng): string[] {
  const words: string[] = [...TOKENS];
  for (let i = 0; i < 3000; i++) {
    let w = '';
    const n = rng.int(2, 4);
    for (let j = 0; j < n; j++) w += rng.pick(SYLLABLES);
    if (rng.next() < 0.2) w += '_' + rng.pick(SYLLABLES);
    words.push(w);
  }
  return words;
}

function textLine(rng: Rng, vocab: string[]): string {
  let line = '  '.repeat(rng.int(0, 4));
  const n = rng.int(2, 12);
  for (let i = 0; i < n; i++) {
    // Zipf-ish: low indices (tokens, common words) far more frequent.
    line += vocab[Math.floor(vocab.length * rng.next() ** 2.5)]!;
    line += i === n - 1 ? '' : ' ';
  }
  return line;
}

function textContent(rng: Rng, vocab: string[], bytes: number): string {
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    const l = textLine(rng, vocab);
    lines.push(l);
    n += l.length + 1;
  }
  return lines.join('\n') + '\n';
}

/** A few small line edits: replace, insert, delete. Small changes => good deltas. */
function editText(rng: Rng, vocab: string[], content: string): string {
  const lines = content.split('\n');
  const ops = rng.int(1, 4);
  for (let i = 0; i < ops; i++) {
    const at = rng.int(0, Math.max(0, lines.length - 2));
    const op = rng.int(0, 2);
    if (op === 0) lines[at] = textLine(rng, vocab);
    else if (op === 1) {
      const k = rng.int(1, 6);
      const add: string[] = [];
      for (let j = 0; j < k; j++) add.push(textLine(rng, vocab));
      lines.splice(at, 0, ...add);
    } else if (lines.length > 4) lines.splice(at, rng.int(1, 3));
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- git helpers

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'slipway bench',
  GIT_AUTHOR_EMAIL: 'bench@slipway.invalid',
  GIT_COMMITTER_NAME: 'slipway bench',
  GIT_COMMITTER_EMAIL: 'bench@slipway.invalid',
};

function git(cwd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync('git', args, { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  return r.stdout.trim();
}

function commit(dir: string, i: number, msg: string): void {
  const date = `${1_700_000_000 + i * 3600} +0000`;
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-q', '--no-verify', '-m', msg], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
}

function packBytes(dir: string): number {
  const p = join(dir, '.git', 'objects', 'pack');
  if (!existsSync(p)) return 0;
  return readdirSync(p)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + statSync(join(p, f)).size, 0);
}

// ---------------------------------------------------------------- generators

interface FileState {
  path: string;
  binary: boolean;
  text?: string;
  bin?: Buffer;
}

function write(root: string, f: FileState): void {
  const abs = join(root, f.path);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, f.binary ? f.bin! : f.text!);
}

function genHistory(spec: HistorySpec, dir: string): Omit<GeneratedRepo, 'name' | 'dir'> {
  const rng = new Rng(spec.seed);
  const vocab = makeVocab(rng);

  // Nested directory tree, roughly one directory per 12 files, depth up to 5.
  const dirs: { path: string; depth: number }[] = ['src', 'lib', 'assets', 'docs', 'test', 'vendor', 'tools', 'packages'].map(
    (p) => ({ path: p, depth: 1 }),
  );
  const nDirs = Math.max(dirs.length, Math.round(spec.files / 12));
  while (dirs.length < nDirs) {
    const parent = rng.pick(dirs);
    if (parent.depth >= 5) continue;
    dirs.push({ path: `${parent.path}/${rng.pick(vocab.slice(TOKENS.length))}${dirs.length}`, depth: parent.depth + 1 });
  }

  let serial = 0;
  const newFile = (): FileState => {
    const binary = rng.next() < spec.binaryShare;
    const d = rng.pick(dirs).path;
    const base = `${rng.pick(vocab.slice(TOKENS.length))}_${serial++}`;
    if (binary) {
      const n = rng.size(spec.binaryMeanBytes, 512, 512 * 1024);
      return { path: `${d}/${base}.${rng.pick(BIN_EXT)}`, binary, bin: randomBytes(spec.seed, `f${serial}`, n) };
    }
    const n = rng.size(spec.textMeanBytes, 200, 200 * 1024);
    return { path: `${d}/${base}.${rng.pick(TEXT_EXT)}`, binary, text: textContent(rng, vocab, n) };
  };
  const modify = (f: FileState, tag: string): void => {
    if (f.binary) {
      // Overwrite one small region: the rest stays identical, so git can deltify it.
      const b = Buffer.from(f.bin!);
      const len = Math.min(b.length, rng.int(256, 8192));
      const at = rng.int(0, b.length - len);
      randomBytes(spec.seed, tag, len).copy(b, at);
      f.bin = b;
    } else f.text = editText(rng, vocab, f.text!);
  };

  git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['config', 'gc.auto', '0']);
  const files: FileState[] = [];
  for (let i = 0; i < spec.files; i++) {
    const f = newFile();
    files.push(f);
    write(dir, f);
  }
  let n = 0;
  commit(dir, n++, 'initial import');

  const perCommit = Math.max(1, Math.round(spec.files * spec.modifyShare));
  for (let c = 1; c <= spec.historyCommits; c++) {
    const chosen = new Set<number>();
    while (chosen.size < perCommit) chosen.add(rng.int(0, files.length - 1));
    for (const i of chosen) {
      modify(files[i]!, `c${c}i${i}`);
      write(dir, files[i]!);
    }
    // a little churn: two new files, one removed
    for (let k = 0; k < 2; k++) {
      const f = newFile();
      files.push(f);
      write(dir, f);
    }
    const gone = files.splice(rng.int(0, files.length - 1), 1)[0]!;
    rmSync(join(dir, gone.path));
    commit(dir, n++, `change ${c}: ${chosen.size} files`);
  }

  // Incremental commit: text edits only, so it is a small, delta-heavy (thin) pack.
  const textIdx = files.flatMap((f, i) => (f.binary ? [] : [i]));
  const chosen = new Set<number>();
  while (chosen.size < Math.min(spec.incrementalFiles, textIdx.length)) chosen.add(rng.pick(textIdx));
  for (const i of chosen) {
    modify(files[i]!, `inc${i}`);
    write(dir, files[i]!);
  }
  commit(dir, n++, `incremental: ${chosen.size} files`);
  git(dir, ['gc', '-q']);

  return {
    head: git(dir, ['rev-parse', 'HEAD']),
    parent: git(dir, ['rev-parse', 'HEAD~1']),
    commits: n,
    files: files.length,
    treeBytes: files.reduce((s, f) => s + (f.binary ? f.bin!.length : Buffer.byteLength(f.text!)), 0),
    packBytes: packBytes(dir),
    incrementalFiles: chosen.size,
  };
}

function genBlobs(spec: BlobSpec, dir: string): Omit<GeneratedRepo, 'name' | 'dir'> {
  git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['config', 'gc.auto', '0']);
  for (let i = 0; i < spec.files; i++) {
    const p = join(dir, 'blobs', `part-${String(i).padStart(3, '0')}.bin`);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, randomBytes(spec.seed, `blob${i}`, spec.fileBytes));
  }
  commit(dir, 0, `${spec.files} random blobs`);
  git(dir, ['gc', '-q']);
  const head = git(dir, ['rev-parse', 'HEAD']);
  return {
    head,
    parent: head,
    commits: 1,
    files: spec.files,
    treeBytes: spec.files * spec.fileBytes,
    packBytes: packBytes(dir),
    incrementalFiles: 0,
  };
}

/** Return the cached repo for `spec`, generating it first if needed. */
export function ensureRepo(workRoot: string, spec: RepoSpec, log: (msg: string) => void): GeneratedRepo {
  const key = `${REPO_VERSION}-${spec.name}`;
  const root = resolve(workRoot, 'repos', key);
  const metaFile = join(root, 'meta.json');
  if (existsSync(metaFile)) {
    const meta = { ...(JSON.parse(readFileSync(metaFile, 'utf8')) as GeneratedRepo), dir: join(root, 'work') };
    // Sanity: the cached repo must still have the recorded HEAD.
    try {
      if (git(meta.dir, ['rev-parse', 'HEAD']) === meta.head) return meta;
    } catch {
      /* regenerate */
    }
  }
  log(`generating test repo ${key} (cached for later runs) …`);
  const t0 = Date.now();
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(tmp, 'work'), { recursive: true });
  const info = spec.kind === 'history' ? genHistory(spec, join(tmp, 'work')) : genBlobs(spec, join(tmp, 'work'));
  renameSync(tmp, root);
  const meta: GeneratedRepo = { name: key, dir: join(root, 'work'), ...info };
  writeFileSync(metaFile, JSON.stringify(meta, null, 2));
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return meta;
}
