import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Names in a directory; a missing or unreadable directory has none. */
export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Writes all of `data` to a new file (`wx`: never over an existing one, nor through a symlink) and fsyncs it. */
export function writeNewFileDurably(file: string, data: string | Buffer, mode = 0o644): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = fs.openSync(file, 'wx', mode);
  try {
    for (let done = 0; done < buf.length; ) done += fs.writeSync(fd, buf, done, buf.length - done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** State files: written to a temp file beside the target, fsynced, renamed over it; a kill leaves the old or the new file, never half of one. */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeNewFileDurably(tmp, content, mode);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Removes a tree that another user may be changing at the same time (a checkout owned by an app
 * user). GNU rm walks by file descriptors and never follows a symlink swapped in mid-way, which
 * Node's rmSync (path by path) does not guarantee.
 */
export function removeTree(dir: string): void {
  const r = spawnSync('rm', ['-rf', '--one-file-system', '--', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot remove ${dir}: ${(r.stderr || r.error?.message || '').trim()}`);
}
