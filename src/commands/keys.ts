import { describeRole } from '../service/access.ts';
import { json } from './style.ts';
import { defineCommand, JSON_FLAG } from './types.ts';

/** `keys --json`, documented in docs/commands.md: add fields, never rename or remove them. */
export interface KeysJson {
  users: {
    user: string;
    /** null: keys in keys/ for a user `users` does not list (they cannot log in) */
    role: { kind: 'admin' } | { kind: 'deploy' | 'read'; repos: string[] } | null;
    keys: { type: string; fingerprint: string; comment: string; source: string }[];
  }[];
}

export const keys = defineCommand({
  name: 'keys',
  usage: '',
  summary: 'every user with its role, key types and fingerprints (admin)',
  argCounts: [0],
  flags: { json: JSON_FLAG },
  needs: { action: 'admin', repoArg: false },
  async run(ctx) {
    const model: KeysJson = {
      users: ctx.service.users().map((u) => ({
        user: u.user,
        role: u.role,
        keys: u.keys.map((k) => ({ type: k.algo, fingerprint: k.fingerprint, comment: k.comment, source: k.source })),
      })),
    };
    if (ctx.flags.json) {
      ctx.out(json(model));
      return 0;
    }
    const lines: string[] = [];
    for (const u of model.users) {
      lines.push(`${u.user}: ${u.role ? describeRole(u.role) : 'no role (not in users: cannot log in)'}`);
      if (u.keys.length === 0) lines.push('  (no key in keys/)');
      for (const k of u.keys) lines.push(`  ${k.type} ${k.fingerprint}${k.comment ? ` ${k.comment}` : ''} (${k.source})`);
    }
    ctx.out(lines.map((l) => `${l}\n`).join(''));
    return 0;
  },
});
