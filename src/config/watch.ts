import fs from 'node:fs';
import path from 'node:path';

/** The folders of a config dir whose files make up the config (templates are read at apply time). */
const WATCHED = ['.', 'repos', 'domains', 'keys'];

/**
 * Calls `onChange` once things have been quiet for `debounceMs` after any change in the config
 * dir (an editor saving writes, renames and chmods in a burst; `cp -r` writes many files). A
 * folder created later (`keys/` added) is watched from then on. Returns the function that stops.
 */
export function watchConfigDir(dir: string, onChange: () => void, debounceMs = 300): () => void {
  const watchers = new Map<string, { w: fs.FSWatcher; ino: number }>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const changed = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      watchAll();
      onChange();
    }, debounceMs);
  };
  const watchAll = () => {
    for (const sub of WATCHED) {
      const folder = path.join(dir, sub);
      const ino = inode(folder);
      const have = watchers.get(folder);
      if (have && have.ino === ino) continue;
      // A folder removed (and perhaps made again) is watched anew.
      have?.w.close();
      watchers.delete(folder);
      if (ino === null) continue;
      try {
        const w = fs.watch(folder, { persistent: false }, changed);
        w.on('error', changed);
        watchers.set(folder, { w, ino });
      } catch {
        /* gone again meanwhile: the next change looks again */
      }
    }
  };
  watchAll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const { w } of watchers.values()) w.close();
    watchers.clear();
  };
}

function inode(folder: string): number | null {
  try {
    const st = fs.statSync(folder);
    return st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}
