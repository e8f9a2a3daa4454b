import fs from 'node:fs';
import path from 'node:path';
import nunjucks from 'nunjucks';
import { UserError } from '../lib/errors.ts';
import { resolveInside } from '../lib/paths.ts';
import { fileURLToPath } from 'node:url';
import type { DomainModel, LocationModel, SiteModel, UpstreamModel } from './model.ts';

/** slipway's own templates; `nginx.templates` names a folder searched first, file by file. */
const DEFAULT_TEMPLATES = fileURLToPath(new URL('../../templates/nginx/', import.meta.url));

/** One generated file: its path relative to the output folder, its text, and the config file it comes from (for nginx's complaints). */
export interface RenderedFile {
  path: string;
  text: string;
  source: string;
}

export interface RenderOptions {
  /** an operator's template folder, absolute */
  override?: string;
  /** a template environment to reuse (its compiled templates are cached); default: a fresh one */
  env?: nunjucks.Environment;
  /** managed: the main config and its includes, under this prefix; system: site files only */
  managed?: { prefix: string; listen: { http: string; https: string } };
}

/** Templates from `override` first, then slipway's. `cached`: compiled once, as long as the environment lives. */
export function templateEnv(override?: string, cached = false): nunjucks.Environment {
  if (override && !fs.statSync(override, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UserError(`nginx.templates: ${override} is not a folder (expected a folder of templates overriding templates/nginx)`);
  }
  const loader = new nunjucks.FileSystemLoader(override ? [override, DEFAULT_TEMPLATES] : [DEFAULT_TEMPLATES], { noCache: !cached });
  return new nunjucks.Environment(loader, { autoescape: false, trimBlocks: false, lstripBlocks: false });
}

/** Every file nginx needs for `site`. Site files live in `conf.d/` (managed) or flat (system conf_dir). */
export function renderSite(site: SiteModel, opts: RenderOptions): RenderedFile[] {
  const env = opts.env ?? templateEnv(opts.override);
  const render = (name: string, ctx: object, source: string) => {
    try {
      return env.render(name, ctx);
    } catch (err) {
      throw new UserError(`${source}: cannot render template ${name}: ${(err as Error).message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}`);
    }
  };
  const dir = opts.managed ? 'conf.d' : '';
  const fileIn = (name: string) => path.relative('/x', resolveInside('/x', ...(dir ? [dir] : []), name));
  const files: RenderedFile[] = [];
  for (const u of site.upstreams) {
    files.push({ path: fileIn(`upstream_${u.name}.conf`), text: render('upstream.conf.njk', upstreamContext(u), `repos/${u.ref.repo}.yml`), source: `repos/${u.ref.repo}.yml` });
  }
  for (const d of site.domains) {
    const locations = d.locations.map((l) => ({ path: l.path, body: render(bodyTemplate(l), locationContext(l), d.file).trimEnd(), extra: joinExtra(l) }));
    const sslConfig = d.ssl ? (d.sslConfig ?? render('ssl.njk', {}, d.file)).trimEnd() : '';
    files.push({ path: fileIn(`${d.name}.conf`), text: render('server.conf.njk', { ...domainContext(d), locations, sslConfig }, d.file), source: d.file });
  }
  if (opts.managed) {
    const anySsl = site.domains.some((d) => d.ssl);
    const main = { prefix: opts.managed.prefix, listen: opts.managed.listen, anySsl };
    files.push({ path: 'nginx.conf', text: render('nginx.conf.njk', main, 'templates/nginx/nginx.conf.njk'), source: 'nginx.conf.njk' });
    files.push({ path: 'mime.types', text: render('mime.types', {}, 'templates/nginx/mime.types'), source: 'mime.types' });
    files.push({ path: 'uwsgi_params', text: render('uwsgi_params', {}, 'templates/nginx/uwsgi_params'), source: 'uwsgi_params' });
  }
  return files;
}

function bodyTemplate(l: LocationModel): string {
  return `location/${l.serving ? l.serving.type : 'unavailable'}.njk`;
}

function locationContext(l: LocationModel): object {
  const s = l.serving;
  if (!s) return { reason: `nothing to serve: ${l.reason}` };
  return { upstream: s.upstream, proxyPath: s.proxyPath, root: s.target.kind === 'static' ? s.target.root : undefined, base: s.target.kind === 'static' ? s.target.base : undefined, ref: s.ref, maintenance: s.maintenance };
}

/** The runner's nginx_extra_config, then the location's (pyPaaS appended both). */
function joinExtra(l: LocationModel): string {
  return [l.serving?.extra, l.extra].filter((x): x is string => Boolean(x?.trim())).map((x) => x.trimEnd()).join('\n');
}

function upstreamContext(u: UpstreamModel): object {
  return { name: u.name, ports: u.ports, extra: u.extra?.trimEnd(), repo: u.ref.repo, branch: u.ref.branch, runner: u.ref.runner, release: u.release };
}

function domainContext(d: DomainModel): object {
  return {
    name: d.name,
    file: d.file,
    ssl: d.ssl,
    cert: d.cert,
    listen: d.listen,
    httpsPortSuffix: d.httpsPortSuffix,
    extraListenOptions: d.extraListenOptions?.trim(),
    httpExtra: d.httpExtra?.trimEnd(),
    httpsExtra: d.httpsExtra?.trimEnd(),
  };
}
