import { describeRole } from '../service/access.ts';
import type { Command } from './types.ts';

export const whoami: Command = {
  name: 'whoami',
  usage: '',
  summary: 'show who you are logged in as and what you may do',
  argCounts: [0],
  needs: null,
  async run(ctx) {
    ctx.out(`user: ${ctx.user}\n`);
    ctx.out(`role: ${describeRole(ctx.role)}\n`);
    ctx.out(`key:  ${ctx.fingerprint}\n`);
    const repos = ctx.service.visibleRepos(ctx.user);
    ctx.out(`repos: ${repos.length ? repos.join(', ') : '(none)'}\n`);
    return 0;
  },
};
