import type { Command } from './types.ts';
import { expectArgs, requireRole } from './types.ts';

export const cleanup: Command = {
  name: 'cleanup',
  usage: '',
  summary: 'remove checkouts that no kept release uses',
  async run(ctx) {
    expectArgs(this, ctx, 0);
    requireRole(ctx, 'admin');
    const removed = ctx.service.cleanup();
    ctx.out(removed.length ? removed.map((r) => `removed ${r}\n`).join('') : 'nothing to clean up\n');
    return 0;
  },
};
