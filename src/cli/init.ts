import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../lib/errors.ts';

/** The commented starter config that `slipway init` writes, kept as plain files under templates/. */
const STARTER = fileURLToPath(new URL('../../templates/starter/', import.meta.url));

/**
 * Writes the starter config into `dir` plus `keys/<user>.pub` for each key; never overwrites a
 * file. `domains/` (hello.localhost through the managed nginx) is written only when `withNginx`.
 */
export function writeStarterConfig(dir: string, keys: { user: string; text: string }[], withNginx: boolean): void {
  if (['slipway.yml', 'pypaas.yml'].some((f) => existsSync(join(dir, f)))) {
    throw new UserError(`${dir} already holds a configuration; refusing to overwrite`);
  }
  for (const { user } of keys) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]*$/.test(user)) throw new UserError(`invalid user name '${user}' (expected letters, digits, '.', '_', '@' and '-')`);
  }
  const files = templateFiles(STARTER).filter((rel) => withNginx || !rel.startsWith('domains/')).map((rel) => ({ rel, text: readFileSync(join(STARTER, rel), 'utf8') }));
  for (const { user, text } of keys) files.push({ rel: `keys/${user}.pub`, text: text.endsWith('\n') ? text : `${text}\n` });
  // Private from the start: the config holds the apps' env and decides who logs in.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const { rel, text } of files) writeNew(join(dir, rel), text);
}

/** Paths of all files below `root`, relative to it. */
function templateFiles(root: string, sub = ''): string[] {
  return readdirSync(join(root, sub), { withFileTypes: true }).flatMap((entry) => {
    const rel = sub ? `${sub}/${entry.name}` : entry.name;
    return entry.isDirectory() ? templateFiles(root, rel) : [rel];
  });
}

function writeNew(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, text, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`${path} already exists; refusing to overwrite`);
    throw err;
  }
}
