import type { Config, ConfigProblem, DomainConfig, NginxSettings, RunnerConfig, RunnerType, UpstreamRef } from '../config/types.ts';
import type { Certificate, CertificateSource } from './certificates.ts';
import { listenAddress, unsafePathReason, upstreamName } from './names.ts';

/**
 * What nginx should serve, as plain data: built from the config and what runs now (a lookup the
 * service provides), before any template sees it. Every problem found is a config problem
 * naming the file at fault.
 */

/**
 * What runs behind one runner: backend ports, or a static folder. `root` is `base` (the
 * checkout, a real path) plus the runner's subdirectory as pushed: nginx checks every part below
 * `base` for symlinks, so a pushed `public -> /etc` is refused, not followed.
 */
export type Target = { kind: 'ports'; ports: number[]; release: string } | { kind: 'static'; root: string; base: string; release: string };

/** What the current release of `ref`'s branch offers for its runner; null when nothing runs (no release, maintenance). */
export type TargetLookup = (ref: UpstreamRef, runner: RunnerConfig) => Target | null;

export interface UpstreamModel {
  name: string;
  ref: UpstreamRef;
  release: string;
  ports: number[];
  extra?: string;
}

export interface LocationModel {
  path: string;
  /** the runner the domain file names (serving may be its maintenance_upstream) */
  upstream: UpstreamRef;
  extra?: string;
  /** the runner that answers, or null (503) */
  serving: { ref: UpstreamRef; type: RunnerType; target: Target; maintenance: boolean; upstream?: string; proxyPath: string; extra?: string } | null;
  /** why nothing answers, for the 503 location and `status` */
  reason?: string;
}

export interface DomainModel {
  name: string;
  file: string;
  ssl: boolean;
  cert: Certificate | null;
  sslConfig?: string;
  httpExtra?: string;
  httpsExtra?: string;
  extraListenOptions?: string;
  listen: { http: string; https: string };
  httpsPortSuffix: string;
  urls: string[];
  locations: LocationModel[];
}

export interface SiteModel {
  domains: DomainModel[];
  upstreams: UpstreamModel[];
}

export function buildSite(config: Config, lookup: TargetLookup, certs: CertificateSource): { site: SiteModel } | { problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const upstreams = new Map<string, UpstreamModel>();
  const settings = config.global.nginx;
  const domains: DomainModel[] = [];
  const seen = new Map<string, string>();
  for (const d of Object.values(config.domains).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const lower = d.name.toLowerCase();
    const other = seen.get(lower);
    if (other) problems.push({ file: d.file, path: '', message: `server name '${d.name}' is also served by ${other} (nginx names ignore case; keep one file)` });
    seen.set(lower, d.file);
    let cert: Certificate | null = null;
    if (d.ssl) {
      const found = certs.lookup(d);
      if ('problem' in found) problems.push({ file: d.file, ...found.problem });
      else cert = found.cert;
    }
    const locations = d.locations.map((loc): LocationModel => {
      const pick = pickServing(config, loc.upstream, loc.maintenanceUpstream, lookup);
      if (!pick) {
        return { path: loc.path, upstream: loc.upstream, extra: loc.nginxExtraConfig, serving: null, reason: `${describeRef(loc.upstream)} has no running release${loc.maintenanceUpstream ? `, nor has ${describeRef(loc.maintenanceUpstream)}` : ''}` };
      }
      const runner = config.repos[pick.ref.repo]!.branches[pick.ref.branch]!.runners[pick.ref.runner]!;
      let upstream: string | undefined;
      if (pick.target.kind === 'ports') {
        upstream = upstreamName(pick.ref);
        upstreams.set(upstream, { name: upstream, ref: pick.ref, release: pick.target.release, ports: pick.target.ports, extra: runner.nginxExtraUpstreamConfig });
      } else {
        const unsafe = unsafePathReason(pick.target.root) ?? unsafePathReason(pick.target.base);
        if (unsafe) problems.push({ file: d.file, path: `locations.${loc.path}`, message: `the static folder ${unsafe}; rename the branch or move the data dir` });
      }
      return {
        path: loc.path,
        upstream: loc.upstream,
        extra: loc.nginxExtraConfig,
        serving: { ref: pick.ref, type: runner.type, target: pick.target, maintenance: pick.maintenance, upstream, proxyPath: runner.nginxProxyPath ?? '', extra: runner.nginxExtraConfig },
      };
    });
    domains.push({
      name: d.name,
      file: d.file,
      ssl: d.ssl,
      cert,
      sslConfig: d.sslConfig,
      httpExtra: d.nginxHttpExtraConfig,
      httpsExtra: d.nginxHttpsExtraConfig,
      extraListenOptions: d.extraListenOptions,
      listen: { http: listenAddress(settings.address, settings.httpPort), https: listenAddress(settings.address, settings.httpsPort) },
      httpsPortSuffix: settings.httpsPort === 443 ? '' : `:${settings.httpsPort}`,
      urls: domainUrls(d, settings),
      locations,
    });
  }
  if (problems.length) return { problems };
  return { site: { domains, upstreams: [...upstreams.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) } };
}

function pickServing(config: Config, upstream: UpstreamRef, maintenance: UpstreamRef | undefined, lookup: TargetLookup) {
  for (const [ref, isMaintenance] of [[upstream, false], [maintenance, true]] as const) {
    const runner = ref && config.repos[ref.repo]?.branches[ref.branch]?.runners[ref.runner];
    if (!ref || !runner) continue;
    const target = lookup(ref, runner);
    if (target && (target.kind === 'static' || target.ports.length > 0)) return { ref, target, maintenance: isMaintenance };
  }
  return null;
}

function describeRef(ref: UpstreamRef): string {
  return `${ref.repo}/${ref.branch} ${ref.runner}`;
}

/** `https://example.com/` (or `http://hello.localhost:8080/api/`): where a domain's locations answer. */
function domainUrls(d: DomainConfig, settings: NginxSettings): string[] {
  const [scheme, port, standard] = d.ssl ? ['https', settings.httpsPort, 443] : ['http', settings.httpPort, 80];
  const base = `${scheme}://${d.name}${port === standard ? '' : `:${port}`}`;
  const paths = d.locations.map((l) => (l.path.startsWith('/') ? l.path : '/'));
  return [...new Set(paths)].map((p) => base + p);
}

/** The URLs that reach `repo`/`branch` through some domain. */
export function urlsFor(site: SiteModel, repo: string, branch: string): string[] {
  const out: string[] = [];
  for (const d of site.domains) {
    const base = d.urls[0]!.replace(/^(\w+:\/\/[^/]+).*$/, '$1');
    for (const l of d.locations) {
      if (l.serving && l.serving.ref.repo === repo && l.serving.ref.branch === branch) out.push(base + (l.path.startsWith('/') ? l.path : '/'));
    }
  }
  return [...new Set(out)];
}
