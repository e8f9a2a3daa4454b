import type { IsolationMode } from '../config/types.ts';

/**
 * How one command of a repo is confined: the user it runs as, the sandbox around it and its
 * limits. Plain data, recorded with each supervised process so that a restart after a gateway
 * restart confines it exactly as before.
 */
export interface Confinement {
  mode: IsolationMode;
  /** null only in mode `none`: the command keeps the gateway's user */
  user: { name: string; uid: number; gid: number } | null;
  /** the repo's data folder (its HOME) */
  home: string;
  /** read-write inside the sandbox (the checkout, the data folder); everything else of the system is read-only */
  writable: string[];
  /** covered by an empty tmpfs inside the sandbox: the data dir, the config dir */
  hidden: string[];
  limits: {
    /** RLIMIT_NPROC; null when the command shares the gateway's uid (the count would include the gateway's own processes) */
    processes: number | null;
    openFiles: number;
    memoryBytes: number;
  };
}

export const UNCONFINED: Confinement = { mode: 'none', user: null, home: '', writable: [], hidden: [], limits: { processes: null, openFiles: 0, memoryBytes: 0 } };

/**
 * The argv that runs `argv` confined: `prlimit` sets the limits (Node has no setrlimit), `bwrap`
 * (as root, so it can mount) builds the sandbox, and `setpriv` drops to the repo's user with no
 * supplementary groups, no capabilities and no_new_privs, so nothing inside can get root back.
 * The limits are set before the uid changes, and RLIMIT_NPROC counts the repo user's processes
 * system-wide: a fork bomb stops at the limit without touching other users.
 *
 * `dieWithParent` (builds and custom commands): the sandbox dies with the gateway. Apps outlive
 * the gateway, so for them the parent is their wrapper shell, which outlives it too. In both
 * cases bwrap kills whatever is left in the sandbox (daemons included) when `argv` exits.
 */
export function confinedArgv(c: Confinement, argv: string[], cwd: string): string[] {
  const out: string[] = [];
  const rl: string[] = [];
  if (c.limits.processes !== null) rl.push(`--nproc=${c.limits.processes}:${c.limits.processes}`);
  if (c.limits.openFiles > 0) rl.push(`--nofile=${c.limits.openFiles}:${c.limits.openFiles}`);
  if (c.limits.memoryBytes > 0) rl.push(`--as=${c.limits.memoryBytes}:${c.limits.memoryBytes}`);
  if (rl.length) out.push('prlimit', ...rl, '--');
  if (c.mode === 'sandbox') out.push(...bwrapArgs(c, cwd), '--');
  if (c.user) {
    const { uid, gid } = c.user;
    out.push('setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--');
  }
  // The supervisor's wrapper ignores SIGTERM so that bwrap survives until the app has exited;
  // the app itself must get the signals back (ignored signals survive exec).
  if (c.mode === 'sandbox') out.push('env', '--default-signal=TERM,INT,HUP', '--');
  return [...out, ...argv];
}

function bwrapArgs(c: Confinement, cwd: string): string[] {
  const args = [
    'bwrap',
    '--die-with-parent',
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--tmpfs', '/tmp',
    '--tmpfs', '/var/tmp',
    '--tmpfs', '/dev/shm',
  ];
  // Hidden first, then the writable binds inside the tmpfs that hides their parents. bwrap would
  // create the folders on the way 0700 (root's), which the app could not pass: create them 0711.
  for (const h of c.hidden) args.push('--tmpfs', h);
  const made = new Set<string>();
  for (const w of c.writable) {
    const root = c.hidden.find((h) => w.startsWith(h + '/'));
    if (root) {
      const parts = w.slice(root.length + 1).split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const dir = `${root}/${parts.slice(0, i).join('/')}`;
        if (!made.has(dir)) args.push('--perms', '0711', '--dir', dir);
        made.add(dir);
      }
    }
    args.push('--bind', w, w);
  }
  args.push('--chdir', cwd);
  return args;
}
