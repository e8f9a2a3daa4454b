import fs from 'node:fs';
import path from 'node:path';
import type { NginxSettings } from '../config/types.ts';

/** Debian installs nginx in /usr/sbin, which is not on an ordinary user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];

/** The nginx binary to run: `nginx.binary`, else the first `nginx` on PATH or in the sbin folders; null when there is none. */
export function findNginx(settings: Pick<NginxSettings, 'binary'>, envPath = process.env.PATH ?? ''): string | null {
  const candidates = settings.binary ? [settings.binary] : [...envPath.split(':').filter(Boolean), ...EXTRA_DIRS].map((d) => path.join(d, 'nginx'));
  return candidates.find(isExecutable) ?? null;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export const INSTALL_HINT = 'install nginx (Debian/Ubuntu: apt-get install nginx) or set nginx.binary in slipway.yml';
