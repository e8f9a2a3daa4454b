import fs from 'node:fs';
import path from 'node:path';

/**
 * The gateway's folders are private by folder: the data dir's top folders are 0700 (0711 where
 * app users or nginx's workers must pass through by name: the data dir itself, checkouts, apps),
 * so whatever is written below them is out of other users' reach. Files keep their usual modes
 * (a 0077 umask would reach the apps and their builds, whose files nginx may have to read).
 */

const PRIVATE = ['repos', 'state', 'logs', 'hostkeys'];
const PASSED_THROUGH = ['checkouts', 'apps'];

/** Creates and closes the data dir's folders. `passThrough`: app users run as other users (root only). */
export function closeDataDir(dataDir: string, passThrough: boolean): void {
  const open = passThrough ? 0o711 : 0o700;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dataDir, open);
  for (const d of PRIVATE) {
    const p = path.join(dataDir, d);
    fs.mkdirSync(p, { recursive: true, mode: 0o700 });
    fs.chmodSync(p, 0o700);
  }
  // Created when first needed (a deploy, a repo's data folder), with the same mode then.
  for (const d of PASSED_THROUGH) {
    const p = path.join(dataDir, d);
    if (fs.existsSync(p)) fs.chmodSync(p, open);
  }
}

/** What other users can do to the config dir that they should not: one warning sentence each. */
export function configDirExposure(configDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth < 2) walk(p, depth + 1);
      else if (e.isFile()) {
        const mode = fs.statSync(p).mode & 0o777;
        if (mode & 0o022) out.push(`${p} can be written by ${who(mode, 0o020, 0o002)} (mode ${octal(mode)}): whoever can write it decides who logs in and what runs; chmod go-w ${p}`);
      }
    }
    const mode = fs.statSync(dir).mode & 0o777;
    if (mode & 0o022) out.push(`${dir} can be written by ${who(mode, 0o020, 0o002)} (mode ${octal(mode)}): anyone who can add a file there can add a key; chmod go-w ${dir}`);
  };
  walk(configDir, 0);
  const mode = fs.statSync(configDir).mode & 0o777;
  if (mode & 0o044) out.push(`${configDir} can be read by ${who(mode, 0o040, 0o004)} (mode ${octal(mode)}): it holds the apps' env (secrets); chmod 700 ${configDir}`);
  return out;
}

function who(mode: number, group: number, others: number): string {
  return [mode & group ? 'its group' : '', mode & others ? 'all users' : ''].filter(Boolean).join(' and ');
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
