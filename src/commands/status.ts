import type { RunnerType } from '../config/types.ts';
import type { SiteModel } from '../nginx/model.ts';
import { describeExit, type ProcessStatus } from '../runners/supervisor.ts';
import type { Service } from '../service/service.ts';
import { duration, isoTime, json, painter, type Colour } from './style.ts';
import { defineCommand, JSON_FLAG } from './types.ts';

/** `status --json`, documented in docs/commands.md: add fields, never rename or remove them. */
export interface StatusJson {
  /** whether the config on disk runs: a refused reload leaves the previous one running */
  config: {
    applied_at: string;
    applied_by: string;
    refused: { at: string; by: string; problems: string[] } | null;
    not_rolled_out: { repo: string; branch: string; error: string }[];
  };
  branches: BranchJson[];
  domains: DomainJson[];
}

interface BranchJson {
  repo: string;
  branch: string;
  /** the commit the branch ref points at; null before the first push */
  head: string | null;
  current: { id: string; commit: string; user: string; deployed_at: string; age_seconds: number } | null;
  last_deploy: { release: string; commit: string; user: string; started_at: string; seconds: number; ok: boolean; error: string | null } | null;
  runners: RunnerJson[];
}

/**
 * `running`: every process of the current release runs; `degraded`: some do; `down`: none;
 * `crash-loop`: one of them is in a crash loop; `static`: an NginxStatic runner with a release;
 * `not deployed`: no current release; `removed`: processes of a runner the config no longer has.
 */
type RunnerState = 'running' | 'degraded' | 'down' | 'crash-loop' | 'static' | 'not deployed' | 'removed';

interface RunnerJson {
  name: string;
  type: RunnerType | null;
  process_count: number;
  state: RunnerState;
  processes: ProcessJson[];
}

interface ProcessJson {
  index: number;
  release: string;
  state: ProcessStatus['state'];
  pid: number | null;
  port: number | null;
  started_at: string | null;
  uptime_seconds: number | null;
  restarts: number;
  last_exit: { code: number | null; signal: string | null; at: string } | null;
}

interface DomainJson {
  name: string;
  urls: string[];
  locations: {
    path: string;
    repo: string;
    branch: string;
    runner: string;
    type: RunnerType | null;
    release: string | null;
    ports: number[];
    maintenance: boolean;
    /** why nothing answers (nginx's 503), or null */
    unavailable: string | null;
  }[];
}

const secondsSince = (now: number, t: number) => Math.max(0, Math.round((now - t) / 1000));

function processJson(p: ProcessStatus, now: number): ProcessJson {
  const up = p.pid !== null && p.state === 'running';
  return {
    index: p.index,
    release: p.release,
    state: p.state,
    pid: p.pid,
    port: p.port ?? null,
    started_at: up ? isoTime(p.startedAt) : null,
    uptime_seconds: up ? secondsSince(now, p.startedAt) : null,
    restarts: p.restarts,
    last_exit: p.lastExit ? { code: p.lastExit.code, signal: p.lastExit.signal, at: isoTime(p.lastExit.at) } : null,
  };
}

function runnerState(type: RunnerType, count: number, current: string | null, procs: ProcessJson[]): RunnerState {
  if (current === null) return 'not deployed';
  if (type === 'NginxStatic') return 'static';
  const mine = procs.filter((p) => p.release === current);
  if (mine.some((p) => p.state === 'crash-loop')) return 'crash-loop';
  const running = mine.filter((p) => p.state === 'running').length;
  return running >= count ? 'running' : running === 0 ? 'down' : 'degraded';
}

function branchJson(service: Service, repo: string, branch: string, now: number): BranchJson {
  const cur = service.currentRelease(repo, branch);
  const last = service.lastDeploy(repo, branch);
  const procs = service.processes(repo, branch);
  const configured = service.branch(repo, branch).runners;
  const runners: RunnerJson[] = Object.values(configured).map((r) => {
    const processes = procs.filter((p) => p.runner === r.name).map((p) => processJson(p, now));
    const count = r.type === 'NginxStatic' ? 0 : r.processCount;
    return { name: r.name, type: r.type, process_count: count, state: runnerState(r.type, count, cur?.id ?? null, processes), processes };
  });
  for (const name of new Set(procs.map((p) => p.runner).filter((n) => !configured[n]))) {
    runners.push({ name, type: null, process_count: 0, state: 'removed', processes: procs.filter((p) => p.runner === name).map((p) => processJson(p, now)) });
  }
  return {
    repo,
    branch,
    head: service.head(repo, branch),
    current: cur ? { id: cur.id, commit: cur.commit, user: cur.user, deployed_at: isoTime(cur.time), age_seconds: secondsSince(now, cur.time) } : null,
    last_deploy: last
      ? { release: last.release, commit: last.commit, user: last.user, started_at: isoTime(last.started), seconds: Math.round(last.ms / 100) / 10, ok: last.ok, error: last.error ?? null }
      : null,
    runners,
  };
}

/** The domains whose locations point at repos `visible` lets through, and what answers each location. */
function domainsJson(site: SiteModel | null, visible: (repo: string) => boolean): DomainJson[] {
  const out: DomainJson[] = [];
  for (const d of site?.domains ?? []) {
    const shown = d.locations.filter((l) => visible(l.serving?.ref.repo ?? l.upstream.repo));
    if (shown.length === 0) continue;
    out.push({
      name: d.name,
      urls: d.urls,
      locations: shown.map((l) => {
        const s = l.serving;
        const ref = s?.ref ?? l.upstream;
        return {
          path: l.path,
          repo: ref.repo,
          branch: ref.branch,
          runner: ref.runner,
          type: s?.type ?? null,
          release: s?.target.release ?? null,
          ports: s?.target.kind === 'ports' ? s.target.ports : [],
          maintenance: s?.maintenance ?? false,
          unavailable: s ? null : (l.reason ?? 'nothing runs'),
        };
      }),
    });
  }
  return out;
}

const STATE_COLOUR: Record<string, Colour> = { running: 'green', static: 'green', degraded: 'yellow', backoff: 'yellow', stopping: 'dim', down: 'red', 'crash-loop': 'red', removed: 'dim' };

function render(model: StatusJson, now: number, tty: boolean): string {
  const paint = painter(tty);
  const state = (s: string) => (STATE_COLOUR[s] ? paint(STATE_COLOUR[s], s) : s);
  const lines: string[] = [];
  const c = model.config;
  if (c.refused) {
    lines.push(paint('red', `config on disk refused (${c.refused.by}, ${duration(now - Date.parse(c.refused.at))} ago); the running config stays:`));
    for (const p of c.refused.problems) lines.push(`  ${p}`);
  }
  for (const n of c.not_rolled_out) lines.push(paint('red', `${n.repo}/${n.branch}: config change not rolled out: ${n.error}`));
  for (const b of model.branches) {
    const cur = b.current ? `${b.current.id} ${b.current.commit.slice(0, 12)} by ${b.current.user}, ${duration(b.current.age_seconds * 1000)} ago` : 'not deployed';
    const d = b.last_deploy;
    const last = !d ? '' : d.ok ? `; last deploy ${d.release} ok (${d.seconds} s)` : `; ${paint('red', `last deploy ${d.release} failed`)} ${duration(now - Date.parse(d.started_at))} ago: ${d.error}`;
    lines.push(`${b.repo}/${b.branch}: ${cur}${last}`);
    for (const r of b.runners) {
      const running = r.processes.filter((p) => p.release === b.current?.id && p.state === 'running').length;
      const count = r.type === 'NginxStatic' || r.type === null ? '' : `, ${running}/${r.process_count}`;
      if (b.current || r.processes.length) lines.push(`  ${r.name} (${r.type ?? 'not configured'}): ${state(r.state)}${count}`);
      for (const p of r.processes) {
        const up = p.uptime_seconds === null ? '' : ` up ${duration(p.uptime_seconds * 1000)}`;
        const exit = p.last_exit ? ` last exit: ${describeExit(p.last_exit)}` : '';
        lines.push(`    ${r.name}.${p.index} ${p.release} ${state(p.state)} pid ${p.pid ?? '-'}${p.port ? ` port ${p.port}` : ''} restarts ${p.restarts}${up}${exit}`);
      }
    }
  }
  for (const d of model.domains) {
    lines.push(`domain ${d.name}: ${d.urls.join(' ')}`);
    for (const l of d.locations) {
      if (l.unavailable !== null) {
        lines.push(`  ${l.path} -> nothing runs (503: ${l.unavailable})`);
        continue;
      }
      const ports = l.ports.length ? `, port${l.ports.length > 1 ? 's' : ''} ${l.ports.join(',')}` : '';
      lines.push(`  ${l.path} -> ${l.repo}/${l.branch} ${l.runner} (${l.type}, ${l.release}${ports})${l.maintenance ? ' maintenance' : ''}`);
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}

export const status = defineCommand({
  name: 'status',
  usage: '[<repo> [<branch>]]',
  summary: 'what runs: release and age, last deploy, runners, processes, domains',
  argCounts: [0, 1, 2],
  flags: { json: JSON_FLAG },
  needs: { action: 'read', repoArg: true },
  async run(ctx) {
    const [onlyRepo, onlyBranch] = ctx.args;
    const now = Date.now();
    const branches = ctx.service.branchesFor(ctx.user, 'read').filter((b) => (!onlyRepo || b.repo === onlyRepo) && (!onlyBranch || b.branch === onlyBranch));
    const readable = new Set(branches.map((b) => b.repo));
    const cs = ctx.service.configState();
    const model: StatusJson = {
      config: {
        applied_at: isoTime(cs.applied.at),
        applied_by: cs.applied.by,
        // The problems quote the config (values included): admins only.
        refused: cs.refused && { at: isoTime(cs.refused.at), by: cs.refused.by, problems: ctx.role.kind === 'admin' ? cs.refused.problems : [] },
        // Only the branches this user may read.
        not_rolled_out: cs.notRolledOut.filter((n) => branches.some((b) => b.repo === n.repo)),
      },
      branches: branches.map((b) => branchJson(ctx.service, b.repo, b.branch, now)),
      domains: domainsJson(ctx.service.domains(), (repo) => readable.has(repo)),
    };
    ctx.out(ctx.flags.json ? json(model) : render(model, now, ctx.tty));
    return 0;
  },
});
