import type { Command } from './types.ts';

export const cleanup: Command = {
  name: 'cleanup',
  usage: '',
  summary: 'remove checkouts that no kept release uses (admin)',
  argCounts: [0],
  needs: { action: 'admin', repoArg: false },
  async run(ctx) {
    const removed = ctx.service.cleanup();
    ctx.out(removed.length ? removed.map((r) => `removed ${r}\n`).join('') : 'nothing to clean up\n');
    return 0;
  },
};
