/**
 * What open dashboards cost the gateway: push-to-live time of a deployed app with 0 and with 20
 * dashboards open (each redraws on the deploy's events), the gateway's CPU over a window with 20
 * dashboards in their first minute (refreshing every 10 s, as while someone uses them) and over
 * one with 20 idle dashboards (no key for over a minute: refreshing once a minute), and its
 * resident memory per dashboard. Dashboards are real `ssh -t` sessions
 * (a pty request and a shell) from ssh2 clients in this process; the gateway is measured from
 * /proc. Standalone: `npm run build && node --import tsx bench/dashboards.ts [--quick]`; also part
 * of `npm run bench`. `--cpu-prof DIR` writes the gateway's CPU profile there.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { fmtMiB, fmtMs, median, readVmRss } from './measure.ts';
import { cleanupAll, installSignalHandlers, runOk } from './procs.ts';
import { killApps, liveRepoYaml, serverJs } from './push-to-live.ts';
import { startSlipway, type SlipwayInstance } from './slipway-instance.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DASHBOARDS = 20;
const REPO = 'dash';

export interface DashboardResult {
  pushMs0: number[];
  pushMs20: number[];
  cpuWindowS: number;
  cpuPercent: number;
  /** in the first minute after opening (refreshing every 10 s), over `firstWindowS` */
  cpuFirstMinute: number;
  firstWindowS: number;
  /** the same window before any dashboard was open */
  cpuBaseline: number;
  rssPerDashboard: number;
  rss0: number;
  rss20: number;
  bytesWhileIdle: number;
}

export interface DashboardOptions {
  dir: string;
  /** private key file of the bench client (its .pub next to it) */
  key: string;
  gitEnv: NodeJS.ProcessEnv;
  quick: boolean;
  log: (msg: string) => void;
  /** node options of the gateway, e.g. `--cpu-prof` */
  nodeArgs?: string[];
}

/** utime + stime of a pid in seconds (proc(5) fields 14, 15; USER_HZ 100). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Dashboard {
  bytes: number;
  text: string;
  close(): void;
}

/** One `ssh -t` session: pty 100x30, a shell; resolves once the dashboard has drawn its header. */
function openDashboard(port: number, privateKey: Buffer): Promise<Dashboard> {
  return new Promise((resolveOpen, reject) => {
    const client = new ssh2.Client();
    const d: Dashboard = { bytes: 0, text: '', close: () => client.end() };
    const timer = setTimeout(() => reject(new Error(`a dashboard did not draw within 20 s (got ${d.bytes} bytes)`)), 20_000);
    client.on('error', reject);
    client.on('ready', () => {
      client.shell({ term: 'xterm-256color', cols: 100, rows: 30 }, (err, stream) => {
        if (err) return reject(err);
        stream.on('data', (b: Buffer) => {
          d.bytes += b.length;
          if (d.text.length < 10_000) d.text += b.toString('utf8');
          if (d.text.includes('config applied')) {
            clearTimeout(timer);
            resolveOpen(d);
          }
        });
        stream.stderr.resume();
      });
    });
    client.connect({ host: '127.0.0.1', port, username: 'paas', privateKey });
  });
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): void {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
}

export async function measureDashboards(o: DashboardOptions): Promise<DashboardResult> {
  const repeat = o.quick ? 3 : 7;
  const cpuWindowS = o.quick ? 15 : 60;
  // Inside the minute a dashboard refreshes every 10 s for after it opens (or after a key).
  const firstWindowS = o.quick ? 15 : 45;
  mkdirSync(o.dir, { recursive: true });
  const slip: SlipwayInstance = await startSlipway({
    root: ROOT,
    dir: join(o.dir, 'slipway'),
    publicKey: readFileSync(`${o.key}.pub`, 'utf8'),
    repos: [],
    repoYaml: { [REPO]: liveRepoYaml(o.dir) },
    ports: { min: 24000, max: 24100 },
    nodeArgs: o.nodeArgs,
    // One bench user holds all of them (and its pushes): above the per-user defaults of 10.
    limits: [`max_connections_per_user: ${DASHBOARDS + 10}`, `max_sessions_per_user: ${DASHBOARDS + 10}`],
  });
  const privateKey = readFileSync(o.key);
  const work = join(o.dir, 'work');
  const open: Dashboard[] = [];
  try {
    mkdirSync(work, { recursive: true });
    git(['init', '-q', '-b', 'main'], work, o.gitEnv);
    // The checkout sits below slipway's own package.json ("type": "module"); the app is CommonJS.
    writeFileSync(join(work, 'package.json'), '{"type": "commonjs"}\n');
    let version = 0;
    // Timed asynchronously: the dashboards in this process keep reading meanwhile.
    const push = async () => {
      version++;
      writeFileSync(join(work, 'server.js'), serverJs(`v${version}`));
      git(['add', '-A'], work, o.gitEnv);
      git(['-c', 'user.name=bench', '-c', 'user.email=bench@example.com', 'commit', '-q', '-m', `v${version}`], work, o.gitEnv);
      return (await runOk('git', ['push', '-q', slip.remote(REPO), 'main'], { cwd: work, env: o.gitEnv })).ms;
    };
    await push(); // the first deploy, untimed
    // A dashboard opened and closed first: blessed's modules are loaded before memory is read.
    (await openDashboard(slip.port, privateKey)).close();
    await sleep(1000);

    const pushMs0: number[] = [];
    const pushMs20: number[] = [];
    o.log(`dashboards: ${repeat} pushes with none open`);
    for (let i = 0; i < repeat; i++) pushMs0.push(await push());
    const rss0 = readVmRss(slip.pid) ?? NaN;
    o.log(`dashboards: gateway CPU over ${cpuWindowS} s with none open (its own baseline)`);
    const base0 = cpuSeconds(slip.pid);
    const b0 = performance.now();
    await sleep(cpuWindowS * 1000);
    const cpuBaseline = (100 * (cpuSeconds(slip.pid) - base0)) / ((performance.now() - b0) / 1000);

    o.log(`dashboards: opening ${DASHBOARDS}`);
    for (let i = 0; i < DASHBOARDS; i++) open.push(await openDashboard(slip.port, privateKey));
    const opened = performance.now();
    // Settled: the garbage of opening them is collected before CPU and memory are read.
    await sleep(2000);
    o.log(`dashboards: gateway CPU over ${firstWindowS} s in the first minute of ${DASHBOARDS} dashboards`);
    const f0 = cpuSeconds(slip.pid);
    const ft0 = performance.now();
    await sleep(firstWindowS * 1000);
    const cpuFirstMinute = (100 * (cpuSeconds(slip.pid) - f0)) / ((performance.now() - ft0) / 1000);
    const rss20 = readVmRss(slip.pid) ?? NaN;
    // Idle: a minute without a key, and the 10 s refresh that notices it, behind every one of them.
    await sleep(Math.max(0, opened + 75_000 - performance.now()));

    o.log(`dashboards: gateway CPU over ${cpuWindowS} s with ${DASHBOARDS} idle dashboards`);
    const bytesBefore = open.reduce((n, d) => n + d.bytes, 0);
    const cpu0 = cpuSeconds(slip.pid);
    const t0 = performance.now();
    await sleep(cpuWindowS * 1000);
    const cpuPercent = (100 * (cpuSeconds(slip.pid) - cpu0)) / ((performance.now() - t0) / 1000);
    const bytesWhileIdle = open.reduce((n, d) => n + d.bytes, 0) - bytesBefore;

    o.log(`dashboards: ${repeat} pushes with ${DASHBOARDS} open`);
    for (let i = 0; i < repeat; i++) pushMs20.push(await push());
    // Every dashboard saw the last deploy.
    const last = `r${version}`;
    const missed = open.filter((d) => !d.text.includes(last)).length;
    if (missed) o.log(`dashboards: ${missed} of ${DASHBOARDS} did not show ${last} (their first 10,000 characters are kept only)`);
    return { pushMs0, pushMs20, cpuWindowS, cpuPercent, cpuFirstMinute, firstWindowS, cpuBaseline, rssPerDashboard: (rss20 - rss0) / DASHBOARDS, rss0, rss20, bytesWhileIdle };
  } finally {
    for (const d of open) d.close();
    for (const p of slip.problems()) o.log(`slipway log: ${p}`);
    o.log(`dashboards: slipway ${await slip.stop()}`);
    killApps(slip.dataDir, o.dir);
  }
}

/** Rows for the bench table: [operation, value, target, result]. */
export function dashboardRows(r: DashboardResult): [string, string, string, string][] {
  const m0 = median(r.pushMs0);
  const m20 = median(r.pushMs20);
  const ratio = m20 / m0;
  return [
    [`push-to-live, no dashboard open (median of ${r.pushMs0.length})`, fmtMs(m0), '-', '-'],
    [`push-to-live, ${DASHBOARDS} dashboards open (median of ${r.pushMs20.length})`, `${fmtMs(m20)} (${ratio.toFixed(2)}x)`, '<= 1.1x', ratio <= 1.1 ? 'PASS' : 'MISS'],
    [`gateway CPU, ${DASHBOARDS} dashboards in their first minute (10 s refresh), ${r.firstWindowS} s`, `${r.cpuFirstMinute.toFixed(2)} %`, '-', '-'],
    [`gateway CPU, ${DASHBOARDS} idle dashboards, ${r.cpuWindowS} s`, `${r.cpuPercent.toFixed(2)} % (none open: ${r.cpuBaseline.toFixed(2)} %; ${r.bytesWhileIdle} bytes sent)`, '< 1 %', r.cpuPercent < 1 ? 'PASS' : 'MISS'],
    [`gateway RSS per open dashboard (${fmtMiB(r.rss0)} -> ${fmtMiB(r.rss20)} with ${DASHBOARDS})`, fmtMiB(r.rssPerDashboard), '< 5 MiB', r.rssPerDashboard < 5 * 1024 * 1024 ? 'PASS' : 'MISS'],
  ];
}

export function printDashboardRows(r: DashboardResult): string[] {
  const rows = dashboardRows(r);
  const header: [string, string, string, string] = ['dashboards', 'slipway', 'target', 'result'];
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  console.log('');
  console.log(header.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  for (const x of rows) console.log(x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  return ['| dashboards | slipway | target | result |', '| --- | ---: | ---: | ---: |', ...rows.map((x) => `| ${x.join(' | ')} |`)];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  installSignalHandlers();
  const quick = process.argv.includes('--quick');
  const prof = process.argv.indexOf('--cpu-prof');
  const nodeArgs = prof > 0 ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.argv[prof + 1] ?? '.')] : undefined;
  const dir = join(ROOT, 'bench', '.work', `dashboards-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'client_ed25519');
  const log = (msg: string) => console.log(`bench: ${msg}`);
  runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-bench', '-f', key])
    .then(() =>
      measureDashboards({
        dir,
        key,
        quick,
        log,
        nodeArgs,
        gitEnv: {
          ...process.env,
          GIT_SSH_COMMAND: `ssh -F /dev/null -i '${key}' -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`,
          GIT_AUTHOR_NAME: 'bench',
          GIT_AUTHOR_EMAIL: 'bench@example.com',
          GIT_COMMITTER_NAME: 'bench',
          GIT_COMMITTER_EMAIL: 'bench@example.com',
          GIT_CONFIG_NOSYSTEM: '1',
          HOME: dir,
        },
      }),
    )
    .then((r) => {
      const md = printDashboardRows(r);
      console.log(['', '<!-- paste into docs/benchmarks.md -->', `Measured ${new Date().toISOString().slice(0, 10)}${quick ? ' (--quick)' : ''}.`, '', ...md].join('\n'));
      rmSync(dir, { recursive: true, force: true });
      cleanupAll();
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(`bench: dashboards failed: ${e instanceof Error ? e.message : String(e)}`);
      rmSync(dir, { recursive: true, force: true });
      cleanupAll();
      process.exit(1);
    });
}
