import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatProblem, type Config } from '../config/types.ts';
import { isUserError } from '../lib/errors.ts';
import { findNginx, INSTALL_HINT } from './binary.ts';
import { fileCertificates } from './certificates.ts';
import { buildSite, type TargetLookup } from './model.ts';
import { listenAddress } from './names.ts';
import { refusal } from './refusal.ts';
import { renderSite } from './render.ts';
import { testConfig } from './stage.ts';

/** Stand-ins for what would run, so a config can be checked without a data dir. */
const placeholder: TargetLookup = (_ref, runner) =>
  runner.type === 'NginxStatic' ? { kind: 'static', root: '/nonexistent/checkout', base: '/nonexistent/checkout', release: 'r0' } : { kind: 'ports', ports: [65535], release: 'r0' };

/**
 * `slipway check` for domains: the problems the config itself holds (certificates, duplicate
 * names, unsafe paths), then, when nginx is installed, a staged `nginx -t` of everything the
 * domains would generate. One line per problem; empty when all is well.
 */
export async function checkDomains(config: Config): Promise<string[]> {
  if (Object.keys(config.domains).length === 0) return [];
  const built = buildSite(config, placeholder, fileCertificates);
  if ('problems' in built) return built.problems.map(formatProblem);
  const settings = config.global.nginx;
  const binary = findNginx(settings);
  if (!binary) return settings.managed ? [`${built.site.domains[0]!.file}: nginx is not installed: ${INSTALL_HINT}`] : [];
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-check-'));
  try {
    const listen = { http: listenAddress(settings.address, settings.httpPort), https: listenAddress(settings.address, settings.httpsPort) };
    const files = renderSite(built.site, { override: settings.templates ? path.resolve(config.dir, settings.templates) : undefined, managed: { prefix, listen } });
    const dir = path.join(prefix, 'conf');
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
      fs.writeFileSync(path.join(dir, f.path), f.text);
    }
    const r = await testConfig(binary, prefix, path.join(dir, 'nginx.conf'));
    return r.ok ? [] : [refusal(r.output, dir, files).message];
  } catch (err) {
    if (isUserError(err)) return [err.message];
    throw err;
  } finally {
    fs.rmSync(prefix, { recursive: true, force: true });
  }
}
