import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listDir } from '../lib/fs-util.ts';
import { ObjectStore } from '../git/object-store.ts';
import { serializeCommit, serializeTree } from '../git/objects.ts';
import { moveRef } from '../git/move-ref.ts';
import { listRefs, ZERO_OID } from '../git/refs.ts';

/** The source tree (for `keys/` and `templates/`). */
export const SOURCE_ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The keys a starter instance trusts: the source tree's `keys/*.pub` (one user per file) and the
 * current user's `~/.ssh/id_*.pub` (as that user).
 */
export function starterKeys(home = os.homedir()): { user: string; text: string }[] {
  const out: { user: string; text: string }[] = [];
  const keysDir = path.join(SOURCE_ROOT, 'keys');
  for (const f of listDir(keysDir).filter((f) => f.endsWith('.pub')).sort()) {
    out.push({ user: f.slice(0, -4), text: fs.readFileSync(path.join(keysDir, f), 'utf8') });
  }
  const sshDir = path.join(home, '.ssh');
  const own = listDir(sshDir)
    .filter((f) => /^id_[a-z0-9_]+\.pub$/.test(f) && !/^id_[a-z0-9_]*_sk\.pub$/.test(f))
    .sort()
    .map((f) => fs.readFileSync(path.join(sshDir, f), 'utf8').trim());
  const me = safeUserName();
  if (own.length && !out.some((k) => k.user === me)) out.push({ user: me, text: own.join('\n') + '\n' });
  return out;
}

function safeUserName(): string {
  const name = os.userInfo().username.replace(/[^A-Za-z0-9._-]/g, '');
  return name || 'owner';
}

/** Gives an empty repo a first commit on `branch` holding the files of `templateDir`. */
export async function seedRepo(gitDir: string, branch: string, templateDir: string): Promise<string | null> {
  if (listRefs(gitDir).size > 0) return null;
  const store = new ObjectStore([path.join(gitDir, 'objects')]);
  try {
    const tree = writeTree(store, templateDir);
    const who = `slipway <slipway@localhost> ${Math.floor(Date.now() / 1000)} +0000`;
    const commit = store.writeLoose(
      'commit',
      serializeCommit({ tree, parents: [], author: who, committer: who, message: 'Example app\n' }),
    );
    await moveRef(gitDir, `refs/heads/${branch}`, commit, { from: ZERO_OID });
    return commit;
  } finally {
    store.close();
  }
}

function writeTree(store: ObjectStore, dir: string): string {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).map((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return { mode: '40000', name: e.name, oid: writeTree(store, full) };
    const exec = (fs.statSync(full).mode & 0o100) !== 0;
    return { mode: exec ? '100755' : '100644', name: e.name, oid: store.writeLoose('blob', fs.readFileSync(full)) };
  });
  return store.writeLoose('tree', serializeTree(entries));
}
