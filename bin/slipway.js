#!/usr/bin/env node
// Runs the compiled code in dist/, which `npm ci` builds (the `prepare` script runs `npm run build`).
import fs from 'node:fs';
import v8 from 'node:v8';
// The young generation stays at the size V8 starts it with (1 MiB semi-spaces). V8 grows it to
// 16 MiB semi-spaces, 32 MiB resident, once survivors are many (the gateway's start-up and its
// first big push made them), for no speed the gateway needs: 10-15 MiB of a push's peak. The
// growth factor is read at each growth; the size limit only from the command line, which
// `node bin/slipway.js` lacks. Worker threads share the setting.
v8.setFlagsFromString('--semi-space-growth-factor=1');

const entry = new URL('../dist/cli/cli.js', import.meta.url);
if (!fs.existsSync(entry)) {
  process.stderr.write('slipway: dist/ is missing: run `npm run build` (or `npm ci`) in the slipway folder first\n');
  process.exit(1);
}
await import(entry.href);
