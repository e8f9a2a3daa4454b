import type { SiteModel } from '../nginx/model.ts';
import { describeExit } from '../runners/supervisor.ts';
import type { Command } from './types.ts';

export const status: Command = {
  name: 'status',
  usage: '[<repo> [<branch>]]',
  summary: 'what runs: release, commit and every process with its state',
  argCounts: [0, 1, 2],
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [onlyRepo, onlyBranch] = ctx.args;
    const branches = ctx.service.branchesFor(ctx.user, 'read').filter((b) => (!onlyRepo || b.repo === onlyRepo) && (!onlyBranch || b.branch === onlyBranch));
    for (const { repo, branch } of branches) {
      const cur = ctx.service.currentRelease(repo, branch);
      ctx.out(`${repo}/${branch}: ${cur ? `${cur.id} ${cur.commit.slice(0, 12)} by ${cur.user}` : 'not deployed'}\n`);
      for (const p of ctx.service.processes(repo, branch)) {
        const exit = p.lastExit ? ` last exit: ${describeExit(p.lastExit)}` : '';
        ctx.out(`  ${p.runner}.${p.index} ${p.release} ${p.state} pid ${p.pid ?? '-'}${p.port ? ` port ${p.port}` : ''} restarts ${p.restarts}${exit}\n`);
      }
    }
    const readable = new Set(ctx.service.branchesFor(ctx.user, 'read').map((b) => b.repo));
    for (const line of domainLines(ctx.service.domains(), (repo) => readable.has(repo) && (!onlyRepo || repo === onlyRepo))) ctx.out(line + '\n');
    return 0;
  },
};

/** `domain shop.example: https://shop.example/` then one line per location and what answers it, for the domains whose repos `visible` lets through. */
function domainLines(site: SiteModel | null, visible: (repo: string) => boolean): string[] {
  const lines: string[] = [];
  for (const d of site?.domains ?? []) {
    const shown = d.locations.filter((l) => visible(l.serving?.ref.repo ?? l.upstream.repo));
    if (shown.length === 0) continue;
    lines.push(`domain ${d.name}: ${d.urls.join(' ')}`);
    for (const l of shown) {
      const s = l.serving;
      if (!s) {
        lines.push(`  ${l.path} -> nothing runs (503: ${l.reason})`);
        continue;
      }
      const ports = s.target.kind === 'ports' ? `, port${s.target.ports.length > 1 ? 's' : ''} ${s.target.ports.join(',')}` : '';
      lines.push(`  ${l.path} -> ${s.ref.repo}/${s.ref.branch} ${s.ref.runner} (${s.type}, ${s.target.release}${ports})${s.maintenance ? ' maintenance' : ''}`);
    }
  }
  return lines;
}
