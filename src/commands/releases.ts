import type { Command } from './types.ts';

export const releases: Command = {
  name: 'releases',
  usage: '<repo> <branch>',
  summary: 'list the kept releases of a branch (current marked *)',
  argCounts: [2],
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [repo, branch] = ctx.args as [string, string];
    const state = ctx.service.releasesOf(repo, branch);
    if (state.releases.length === 0) {
      ctx.out(`${repo}/${branch}: no releases yet\n`);
      return 0;
    }
    for (const r of [...state.releases].reverse()) {
      const mark = r.id === state.current ? '*' : ' ';
      ctx.out(`${mark} ${r.id.padEnd(6)} ${r.commit.slice(0, 12)}  ${new Date(r.time).toISOString().replace(/\.\d+Z$/, 'Z')}  ${(r.durationMs / 1000).toFixed(1)} s  ${r.user}\n`);
    }
    return 0;
  },
};
