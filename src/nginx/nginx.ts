import path from 'node:path';
import { execa } from 'execa';
import { formatProblem, type Config } from '../config/types.ts';
import { UserError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { findNginx, INSTALL_HINT } from './binary.ts';
import { fileCertificates, type CertificateSource } from './certificates.ts';
import { NginxMaster, firstError, managedMaster } from './master.ts';
import { buildSite, urlsFor, type SiteModel, type TargetLookup } from './model.ts';
import type nunjucks from 'nunjucks';
import { renderSite, templateEnv } from './render.ts';
import { stageManaged, stageSystem } from './stage.ts';
import { listenAddress } from './names.ts';

const RELOAD_CMD_TIMEOUT_MS = 60_000;
const WATCH_MS = 2_000;

export interface NginxOptions {
  dataDir: string;
  log: Logger;
  /** what runs now behind a runner (the service reads releases and processes) */
  lookup: TargetLookup;
  certs?: CertificateSource;
}

/**
 * The one entry point to nginx: `apply` renders every domain for what runs now, tests the
 * result with nginx, puts it live and reloads; if nginx refuses, nothing changes and the error
 * names the config file at fault. Calls are serialized (deploys of different branches run in
 * parallel, nginx has one configuration).
 */
export class Nginx {
  private queue: Promise<unknown> = Promise.resolve();
  private site: SiteModel | null = null;
  /** whether this gateway has met its master yet (to log an adoption once) */
  private metMaster = false;
  private watcher?: NodeJS.Timeout;
  /** compiled templates per config: a reload (a new config) reads the template files again */
  private envs = new WeakMap<Config, nunjucks.Environment>();

  constructor(private readonly opts: NginxOptions) {}

  apply(config: Config): Promise<SiteModel> {
    const run = this.queue.then(() => this.applyNow(config));
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Keeps the managed master alive: if it is gone (killed, crashed) while domains are served,
   * it is started again on the live configuration. Its orphaned workers serve meanwhile.
   */
  watch(config: () => Config, everyMs = WATCH_MS): void {
    clearInterval(this.watcher);
    this.watcher = setInterval(() => {
      const c = config();
      const master = c.global.nginx.managed ? this.master(c) : null;
      if (!master || !this.site?.domains.length || master.pid() !== null) return;
      this.opts.log.warn('nginx master is gone; starting it again', { prefix: master.prefix });
      this.apply(c).catch((err: Error) => this.opts.log.error('cannot start nginx again', { error: err.message }));
    }, everyMs);
    this.watcher.unref();
  }

  /** What the last applied configuration serves (null before the first apply). */
  get current(): SiteModel | null {
    return this.site;
  }

  /** The URLs that now reach a branch through nginx. */
  urls(repo: string, branch: string): string[] {
    return this.site ? urlsFor(this.site, repo, branch) : [];
  }

  /** The managed master of this data dir (whether it runs or not), or null without a binary. */
  master(config: Config): NginxMaster | null {
    const binary = findNginx(config.global.nginx);
    return binary ? new NginxMaster(binary, path.join(this.opts.dataDir, 'nginx')) : null;
  }

  private async applyNow(config: Config): Promise<SiteModel> {
    const built = buildSite(config, this.opts.lookup, this.opts.certs ?? fileCertificates);
    if ('problems' in built) throw new UserError(built.problems.map(formatProblem).join('\n'));
    const { site } = built;
    const settings = config.global.nginx;
    const override = settings.templates ? path.resolve(config.dir, settings.templates) : undefined;
    let env = this.envs.get(config);
    if (!env) this.envs.set(config, (env = templateEnv(override, true)));
    if (settings.managed) {
      const master = this.master(config);
      if (site.domains.length === 0 && master?.pid() == null) {
        this.site = site;
        return site;
      }
      if (!master) throw new UserError(`${site.domains[0]!.file}: nginx is not installed: ${INSTALL_HINT}`);
      const prefix = master.prefix;
      const listen = { http: listenAddress(settings.address, settings.httpPort), https: listenAddress(settings.address, settings.httpsPort) };
      const files = renderSite(site, { env, managed: { prefix, listen } });
      if (!this.metMaster && master.pid() !== null) this.opts.log.info('nginx adopted', { pid: master.pid(), prefix });
      this.metMaster = true;
      const changed = await stageManaged(master.binary, prefix, files);
      if (master.pid() === null) {
        const how = await master.ensureRunning();
        this.opts.log.info(`nginx ${how}`, { pid: master.pid(), prefix });
      } else if (changed) {
        await master.reload();
      }
      if (changed) this.opts.log.info('nginx configuration applied', { domains: site.domains.length, upstreams: site.upstreams.length });
    } else {
      // Switched from managed to the system nginx: the managed master would hold the ports.
      const leftover = managedMaster(this.opts.dataDir);
      if (leftover && (await leftover.stop())) this.opts.log.info('stopped the managed nginx: nginx.conf_dir names the system nginx now');
      const files = renderSite(site, { env });
      const manifest = path.join(this.opts.dataDir, 'nginx', 'system-files.json');
      if (await stageSystem(settings.confDir!, files, settings.testCmd, manifest)) {
        const r = await execa('/bin/sh', ['-c', settings.reloadCmd], { reject: false, timeout: RELOAD_CMD_TIMEOUT_MS, stdin: 'ignore', all: true });
        if (r.exitCode !== 0) throw new UserError(`nginx.reload_cmd '${settings.reloadCmd}' failed: ${firstError(r.all ?? '') || `exit ${r.exitCode}`}`);
        this.opts.log.info('nginx configuration applied (system nginx)', { domains: site.domains.length });
      }
    }
    this.site = site;
    return site;
  }
}
