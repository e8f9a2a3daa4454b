#!/usr/bin/env node
// Runs the compiled code in dist/, which `npm ci` builds (the `prepare` script runs `npm run build`).
import fs from 'node:fs';

const entry = new URL('../dist/cli/cli.js', import.meta.url);
if (!fs.existsSync(entry)) {
  process.stderr.write('slipway: dist/ is missing: run `npm run build` (or `npm ci`) in the slipway folder first\n');
  process.exit(1);
}
await import(entry.href);
