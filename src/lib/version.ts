import fs from 'node:fs';

/** slipway's version, from its package.json (read once). */
let cached: string | undefined;
export function slipwayVersion(): string {
  cached ??= (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
