import type { Release } from '../deploy/releases.ts';
import { printable } from '../lib/text.ts';
import { defineCommand, JSON_FLAG } from './types.ts';

/** What a release is, in words: its commit's subject, or the config change, or the rollback. */
export function describeRelease(r: Release): string {
  switch (r.kind) {
    case 'config':
      return `config: ${r.changes?.join(', ') || 'unchanged'}`;
    case 'rollback':
      return `rollback to ${r.rollbackOf}`;
    case 'rebuild':
      return `rebuild: ${printable(r.subject ?? '', 72)}`;
    default:
      return printable(r.subject ?? '', 72);
  }
}

/** `releases --json`: the stable shape documented in README.md (Releases). Env values never appear. */
export function releasesJson(repo: string, branch: string, state: { current: string | null; releases: Release[] }) {
  return {
    repo,
    branch,
    current: state.current,
    releases: [...state.releases].reverse().map((r) => ({
      id: r.id,
      current: r.id === state.current,
      kind: r.kind ?? 'push',
      commit: r.commit,
      subject: r.subject ?? null,
      user: r.user,
      time: new Date(r.time).toISOString(),
      duration_ms: r.durationMs,
      changes: r.kind === 'config' ? (r.changes ?? []) : [],
      rollback_of: r.rollbackOf ?? null,
      env: Object.keys(r.config?.env ?? {}).sort(),
      runners: Object.fromEntries(Object.entries(r.config?.runners ?? {}).map(([name, x]) => [name, { type: x.type, process_count: x.processCount }])),
    })),
  };
}

export const releases = defineCommand({
  name: 'releases',
  usage: '<repo> <branch>',
  summary: 'list the kept releases of a branch, newest first (current marked *)',
  argCounts: [2],
  flags: { json: JSON_FLAG },
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [repo, branch] = ctx.args as [string, string];
    const state = ctx.service.releasesOf(repo, branch);
    if (ctx.flags.json) {
      ctx.out(JSON.stringify(releasesJson(repo, branch, state)) + '\n');
      return 0;
    }
    if (state.releases.length === 0) {
      ctx.out(`${repo}/${branch}: no releases yet\n`);
      return 0;
    }
    const rows = [...state.releases].reverse();
    const width = (f: (r: Release) => string) => Math.max(...rows.map((r) => f(r).length));
    const idW = width((r) => r.id);
    const whatW = width(describeRelease);
    const byW = width((r) => r.user);
    for (const r of rows) {
      const mark = r.id === state.current ? '*' : ' ';
      const when = new Date(r.time).toISOString().replace(/\.\d+Z$/, 'Z');
      ctx.out(`${mark} ${r.id.padEnd(idW)}  ${describeRelease(r).padEnd(whatW)}  by ${r.user.padEnd(byW)}  ${r.commit.slice(0, 12)}  ${when}  ${(r.durationMs / 1000).toFixed(1)} s\n`);
    }
    return 0;
  },
});
