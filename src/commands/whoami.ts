import type { Role } from '../config/types.ts';
import { describeRole } from '../service/access.ts';
import { json } from './style.ts';
import { defineCommand, JSON_FLAG } from './types.ts';

/** `whoami --json`, documented in docs/commands.md: add fields, never rename or remove them. */
export interface WhoamiJson {
  user: string;
  role: Role;
  key_fingerprint: string;
  repos: string[];
}

export const whoami = defineCommand({
  name: 'whoami',
  usage: '',
  summary: 'show who you are logged in as and what you may do',
  argCounts: [0],
  flags: { json: JSON_FLAG },
  needs: null,
  async run(ctx) {
    const model: WhoamiJson = { user: ctx.user, role: ctx.role, key_fingerprint: ctx.fingerprint, repos: ctx.service.visibleRepos(ctx.user) };
    if (ctx.flags.json) {
      ctx.out(json(model));
      return 0;
    }
    ctx.out(`user: ${model.user}\n`);
    ctx.out(`role: ${describeRole(model.role)}\n`);
    ctx.out(`key:  ${model.key_fingerprint}\n`);
    ctx.out(`repos: ${model.repos.length ? model.repos.join(', ') : '(none)'}\n`);
    return 0;
  },
});
