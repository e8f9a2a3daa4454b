import { json } from './style.ts';
import { defineCommand, JSON_FLAG } from './types.ts';

/** `list --json`, documented in docs/commands.md: add fields, never rename or remove them. */
export interface ListJson {
  repos: { name: string; branches: { name: string; runners: { name: string; type: string; process_count: number }[] }[] }[];
}

export const list = defineCommand({
  name: 'list',
  usage: '',
  summary: "the repos you can see, their branches and runners with types (pyPaaS's layout)",
  argCounts: [0],
  flags: { json: JSON_FLAG },
  needs: null,
  async run(ctx) {
    const model: ListJson = {
      repos: ctx.service.reposFor(ctx.user).map((r) => ({
        name: r.name,
        branches: Object.values(r.branches).map((b) => ({
          name: b.name,
          runners: Object.values(b.runners).map((x) => ({ name: x.name, type: x.type, process_count: x.type === 'NginxStatic' ? 0 : x.processCount })),
        })),
      })),
    };
    if (ctx.flags.json) {
      ctx.out(json(model));
      return 0;
    }
    // pyPaaS's layout, tabs included, so what read its output reads this.
    const lines = ['', 'Repos', '=====', ''];
    for (const r of model.repos) {
      lines.push(`${r.name}:`);
      for (const b of r.branches) {
        lines.push(`\t${b.name}:`);
        for (const x of b.runners) lines.push(`\t\t${x.name} (${x.type})`);
      }
    }
    ctx.out(lines.map((l) => `${l}\n`).join(''));
    return 0;
  },
});
