import { count } from '../lib/plural.ts';
import { defineCommand } from './types.ts';

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

export const gc = defineCommand({
  name: 'gc',
  usage: '<repo>',
  summary: 'merge the repo\'s packs and drop unreachable objects older than gc.grace_days',
  argCounts: [1],
  needs: { action: 'admin', repoArg: true },
  async run(ctx) {
    const [repo] = ctx.args as [string];
    const r = await ctx.service.gc(repo);
    if (!r.changed) {
      ctx.out(`${repo}: nothing to do (${count(r.packsBefore, 'pack')}, no loose objects, nothing unreachable past the grace period)\n`);
      return 0;
    }
    ctx.out(
      `${repo}: ${count(r.packsBefore, 'pack')} and ${count(r.looseBefore, 'loose object')} (${mib(r.bytesBefore)}) -> ${count(r.packsAfter, 'pack')} (${mib(r.bytesAfter)}) in ${(r.ms / 1000).toFixed(1)} s\n` +
        `kept ${count(r.reachable, 'reachable object')} and ${count(r.recent, 'unreachable one')} younger than the grace period; dropped ${count(r.dropped, 'object')}\n`,
    );
    return 0;
  },
});
