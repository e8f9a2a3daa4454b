import { nodeKey, type Snapshot } from './model.ts';

/**
 * The `:` jump: every repo, branch and runner the user sees as a path (`shop`, `shop/main`,
 * `shop/main/web`), in tree order, and which one a typed prefix means.
 */
export interface JumpTarget {
  path: string;
  /** the tree row's key */
  key: string;
  /** the keys of the rows above it, expanded on a jump */
  parents: string[];
}

export function jumpTargets(s: Snapshot): JumpTarget[] {
  const out: JumpTarget[] = [];
  const repos = new Set<string>();
  for (const b of s.branches) {
    if (!repos.has(b.repo)) {
      repos.add(b.repo);
      out.push({ path: b.repo, key: nodeKey(b.repo), parents: [] });
    }
    const bk = nodeKey(b.repo, b.branch);
    out.push({ path: `${b.repo}/${b.branch}`, key: bk, parents: [nodeKey(b.repo)] });
    for (const r of b.runners) out.push({ path: `${b.repo}/${b.branch}/${r.name}`, key: nodeKey(b.repo, b.branch, r.name), parents: [nodeKey(b.repo), bk] });
  }
  return out;
}

/**
 * What `text` jumps to: the path itself, else the first path (in tree order, so the repo before
 * its branches) it begins, else the first it begins in another case.
 */
export function jumpMatch(text: string, targets: JumpTarget[]): JumpTarget | undefined {
  if (!text) return undefined;
  const lower = text.toLowerCase();
  return targets.find((t) => t.path === text) ?? targets.find((t) => t.path.startsWith(text)) ?? targets.find((t) => t.path.toLowerCase().startsWith(lower));
}

/** The rest of the path `text` would jump to, shown after it and taken by Tab; '' when it is already whole or matches nothing. */
export function jumpCompletion(text: string, targets: JumpTarget[]): string {
  const t = jumpMatch(text, targets);
  return t && t.path.toLowerCase().startsWith(text.toLowerCase()) ? t.path.slice(text.length) : '';
}
