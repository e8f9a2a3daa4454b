import fs from 'node:fs';

/**
 * What /proc says about a pid (proc(5)). The start time (field 22, clock ticks since boot) tells a
 * process apart from a later one that reuses its pid; the boot id tells the boots apart.
 */
export interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  startTicks: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // Field 2, the command name in parentheses, may itself contain spaces and ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), session: Number(fields[3]), startTicks: Number(fields[19]) };
}

/** The process we recorded is still running: same start time, and not a zombie waiting to be reaped. */
export function isSameProcess(pid: number, startTicks: number): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.startTicks === startTicks && s.state !== 'Z' && s.state !== 'X';
}

export function bootId(): string {
  return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** Live (non-zombie) members of a process group. */
export function liveGroupMembers(pgid: number): number[] {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return [];
  }
  const members: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readProcStat(Number(name));
    if (s && s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X') members.push(Number(name));
  }
  return members;
}

/** Signals a whole process group (the app, what its shell started, its log writer); a group already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Polls `done` every `pollMs` until it holds (true) or `timeoutMs` passed (false). */
export async function waitUntil(done: () => boolean, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}

/** Live processes of a uid, with their sessions and parents. */
export function processesOfUid(uid: number): { pid: number; ppid: number; session: number }[] {
  const out: { pid: number; ppid: number; session: number }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${name}/status`, 'latin1'));
      if (Number(m?.[1]) !== uid) continue;
    } catch {
      continue;
    }
    const s = readProcStat(Number(name));
    if (s && s.state !== 'Z' && s.state !== 'X') out.push({ pid: Number(name), ppid: s.ppid, session: s.session });
  }
  return out;
}

/** Linux's USER_HZ: /proc counts CPU time in these ticks on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** CPU time used so far (user + system, seconds) and resident memory (bytes) of a pid, from /proc. */
export interface ProcUsage {
  cpuSeconds: number;
  rssBytes: number;
}

export function readProcUsage(pid: number): ProcUsage | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5): utime, stime.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return { cpuSeconds: ticks / TICKS_PER_SECOND, rssBytes: m ? Number(m[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}
