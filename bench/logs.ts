/**
 * `npm run bench:logs`: the `logs -f` part of `npm run bench` alone (bench/logs-follow.ts).
 * A benchmark, not a test: exits 0 whatever the numbers; 1 only when setup fails.
 */
import { randomInt } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logsFollowRows, measureLogsFollow } from './logs-follow.ts';
import { startNativeSshd } from './native-sshd.ts';
import { cleanupAll, installSignalHandlers, onCleanup, runOk } from './procs.ts';
import { killApps } from './push-to-live.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg: string) => console.log(`bench: ${msg}`);

async function main(): Promise<void> {
  installSignalHandlers();
  const runDir = join(ROOT, 'bench', '.work', `logs-${process.pid}`);
  mkdirSync(runDir, { recursive: true });
  onCleanup(() => rmSync(runDir, { recursive: true, force: true }));
  const key = join(runDir, 'client_ed25519');
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-bench', '-f', key]);
  const gitEnv: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_SSH_COMMAND: `ssh -F /dev/null -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
  };
  const sshd = await startNativeSshd(join(runDir, 'native'), `${key}.pub`);
  onCleanup(() => process.kill(sshd.pid, 'SIGTERM'));
  const min = 20000 + 50 * randomInt(0, 250);
  const dir = join(runDir, 'logs');
  onCleanup(() => killApps(join(dir, 'slipway', 'data'), dir));
  const { result, slip } = await measureLogsFollow({ root: ROOT, dir, key, gitEnv, sshd, ports: { min, max: min + 50 }, log });
  await slip.stop();
  console.log('');
  for (const r of logsFollowRows(result)) console.log(`| ${r.join(' | ')} |`);
  for (const e of result.errors) log(`error: ${e}`);
}

main()
  .catch((err: Error) => {
    console.error(`bench: setup failed: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
