import path from 'node:path';
import { UserError } from '../lib/errors.ts';
import type { RenderedFile } from './render.ts';

/** nginx refused a would-be configuration; nothing was changed. The message names the config file at fault and quotes nginx. */
export class NginxRefused extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'NginxRefused';
  }
}

/**
 * Turns `nginx -t` output into one line: the first error nginx printed, attributed to the config
 * file (domain or repo file) that produced the generated file it names.
 */
export function refusal(output: string, dir: string, files: RenderedFile[]): NginxRefused {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const first = lines.find((l) => /\[(emerg|alert|crit|error)\]/.test(l)) ?? lines[0] ?? 'no output';
  const quoted = first.replace(/^nginx: /, '');
  const m = / in (\/\S+?):(\d+)$/.exec(quoted);
  if (m) {
    const rel = path.relative(dir, m[1]!);
    const file = files.find((f) => f.path === rel);
    if (file) {
      const what = quoted.slice(0, m.index).replace(/^\[\w+\] /, '');
      return new NginxRefused(`${file.source}: nginx refused the configuration: ${what} (generated ${path.basename(rel)} line ${m[2]})`);
    }
  }
  return new NginxRefused(`nginx refused the configuration: ${quoted}`);
}
