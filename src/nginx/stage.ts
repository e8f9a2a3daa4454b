import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { listDir, writeFileAtomic } from '../lib/fs-util.ts';
import { resolveInside } from '../lib/paths.ts';
import { refusal } from './refusal.ts';
import type { RenderedFile } from './render.ts';

const TEST_TIMEOUT_MS = 30_000;
const TEMP_DIRS = ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];

/**
 * Managed nginx: the complete would-be configuration goes to `<prefix>/gen/<id>/`, `nginx -t`
 * tests it there (its includes are relative, so it is the very text the master will read), and
 * only then `<prefix>/live` is pointed at it (a symlink replaced by rename: all or nothing).
 * Returns false when nothing changed.
 */
export async function stageManaged(binary: string, prefix: string, files: RenderedFile[]): Promise<boolean> {
  const live = path.join(prefix, 'live');
  if (sameAsDir(live, files)) return false;
  prepareDirs(prefix);
  const genRoot = path.join(prefix, 'gen');
  const id = `${Date.now()}-${crypto.randomBytes(3).toString('hex')}`;
  const dir = resolveInside(genRoot, id);
  writeFiles(dir, files);
  const r = await testConfig(binary, prefix, path.join(dir, 'nginx.conf'));
  if (!r.ok) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw refusal(r.output, dir, files);
  }
  const tmp = `${live}.tmp-${id}`;
  fs.symlinkSync(path.join('gen', id), tmp);
  fs.renameSync(tmp, live);
  for (const old of listDir(genRoot)) if (old !== id) fs.rmSync(path.join(genRoot, old), { recursive: true, force: true });
  return true;
}

/** `nginx -t` of a main config under `prefix`. */
export async function testConfig(binary: string, prefix: string, conf: string): Promise<{ ok: boolean; output: string }> {
  prepareDirs(prefix);
  const r = await execa(binary, ['-t', '-q', '-p', `${prefix}/`, '-e', path.join(prefix, 'logs', 'error.log'), '-c', conf], { reject: false, timeout: TEST_TIMEOUT_MS, stdin: 'ignore', all: true });
  return { ok: r.exitCode === 0, output: r.all ?? '' };
}

function prepareDirs(prefix: string): void {
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  for (const t of TEMP_DIRS) fs.mkdirSync(path.join(prefix, 'temp', t), { recursive: true });
}

function writeFiles(dir: string, files: RenderedFile[]): void {
  for (const f of files) {
    const target = resolveInside(dir, f.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, f.text, { flag: 'wx' });
  }
}

/** True when `dir` holds exactly `files` (by the names in `conf.d/` and the top level). */
function sameAsDir(dir: string, files: RenderedFile[]): boolean {
  const wanted = new Map(files.map((f) => [f.path, f.text]));
  const present = [...listDir(dir).filter((n) => n !== 'conf.d'), ...listDir(path.join(dir, 'conf.d')).map((n) => `conf.d/${n}`)];
  if (present.length !== wanted.size) return false;
  return present.every((p) => {
    try {
      return fs.readFileSync(path.join(dir, p), 'utf8') === wanted.get(p);
    } catch {
      return false;
    }
  });
}

/**
 * System nginx (pyPaaS style): the files go into `conf_dir`, which the system nginx includes, so
 * they must be in place for its test command. Every file replaced or removed is kept in memory
 * and put back if the test fails, and nginx is not reloaded: what it serves never changes.
 * `manifest` records which files of `conf_dir` are slipway's. Returns false when nothing changed.
 */
export async function stageSystem(confDir: string, files: RenderedFile[], testCmd: string, manifest: string): Promise<boolean> {
  const previous = readManifest(manifest);
  const wanted = new Map(files.map((f) => [f.path, f.text]));
  const backups = new Map<string, string | null>();
  const read = (p: string) => {
    try {
      return fs.readFileSync(resolveInside(confDir, p), 'utf8');
    } catch {
      return null;
    }
  };
  for (const [p, text] of wanted) if (read(p) !== text) backups.set(p, read(p));
  for (const p of previous) if (!wanted.has(p) && read(p) !== null) backups.set(p, read(p));
  if (backups.size === 0) return false;
  fs.mkdirSync(confDir, { recursive: true });
  const put = (p: string, text: string | null) => {
    const target = resolveInside(confDir, p);
    if (text === null) fs.rmSync(target, { force: true });
    else writeFileAtomic(target, text);
  };
  for (const p of backups.keys()) put(p, wanted.get(p) ?? null);
  const r = await execa('/bin/sh', ['-c', testCmd], { reject: false, timeout: TEST_TIMEOUT_MS, stdin: 'ignore', all: true });
  if (r.exitCode !== 0) {
    for (const [p, text] of backups) put(p, text);
    throw refusal(r.all ?? '', confDir, files);
  }
  fs.mkdirSync(path.dirname(manifest), { recursive: true });
  writeFileAtomic(manifest, JSON.stringify([...wanted.keys()].sort(), null, 2) + '\n');
  return true;
}

function readManifest(file: string): string[] {
  try {
    const list = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
