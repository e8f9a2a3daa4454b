/**
 * Objects that sessions of this process rely on while they run: the refs a push or clone was
 * shown. A client leaves out of its pack what those refs reach, so gc must keep it even if the
 * ref is deleted meanwhile.
 */
const pins = new Map<string, Map<number, string[]>>();
let nextId = 0;

/** Keeps `oids` of the repo at `gitDir` alive until the returned function is called. */
export function pinObjects(gitDir: string, oids: Iterable<string>): () => void {
  const id = nextId++;
  let repo = pins.get(gitDir);
  if (!repo) pins.set(gitDir, (repo = new Map()));
  repo.set(id, [...oids]);
  return () => {
    repo.delete(id);
    if (repo.size === 0 && pins.get(gitDir) === repo) pins.delete(gitDir);
  };
}

export function pinnedObjects(gitDir: string): string[] {
  return [...(pins.get(gitDir)?.values() ?? [])].flat();
}
