import net from 'node:net';

/**
 * The budget of connections that have not logged in yet, apart from logged-in ones, in the
 * spirit of OpenSSH's MaxStartups and PerSourcePenalties: a cap per source address, an overall
 * cap that drops the oldest unauthenticated connection to admit a new one, and a growing
 * penalty for sources whose connections fail to authenticate or time out.
 * Pure bookkeeping: the caller passes the time and closes what it is told to.
 */

export interface PreauthLimits {
  /** unauthenticated connections, all sources together */
  maxUnauthenticated: number;
  /** unauthenticated connections from one source (an IPv4 address, an IPv6 /64) */
  maxUnauthenticatedPerSource: number;
  /** added to a source's penalty for each connection that failed to log in or timed out */
  penaltyMs: number;
  /** the most penalty a source can accumulate */
  penaltyMaxMs: number;
}

/** A source is refused only while its remaining penalty is above this (OpenSSH's default). */
export const PENALTY_ENFORCED_ABOVE_MS = 15_000;
/**
 * The machine itself earns no penalty: local tools, health checks and a TCP proxy in front of
 * slipway connect from there, and whoever can connect from there is already on the machine.
 */
const PENALTY_EXEMPT = new Set(['127.0.0.1', '::1']);
/** Penalties remembered at most; expired ones go first, then the oldest. */
const MAX_PENALIZED_SOURCES = 65_536;

export type Admission<T> =
  | { admitted: true; source: string; evicted?: T }
  | { admitted: false; source: string; reason: 'penalized' | 'per-source' };

export class PreauthBudget<T> {
  /** unauthenticated connections in arrival order (a Map keeps insertion order) */
  private readonly pending = new Map<T, string>();
  private readonly perSource = new Map<string, number>();
  /** source → time its penalty ends */
  private readonly penalties = new Map<string, number>();

  constructor(private readonly limits: () => PreauthLimits) {}

  /** Decides on a new connection from `address`; an admitted one counts until `settle`. */
  admit(conn: T, address: string, now: number): Admission<T> {
    const source = sourceOf(address);
    const limits = this.limits();
    if (this.remainingPenalty(source, now) > PENALTY_ENFORCED_ABOVE_MS) return { admitted: false, source, reason: 'penalized' };
    if ((this.perSource.get(source) ?? 0) >= limits.maxUnauthenticatedPerSource) return { admitted: false, source, reason: 'per-source' };
    let evicted: T | undefined;
    if (this.pending.size >= limits.maxUnauthenticated) {
      evicted = this.pending.keys().next().value as T;
      this.settle(evicted);
    }
    this.pending.set(conn, source);
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    return evicted === undefined ? { admitted: true, source } : { admitted: true, source, evicted };
  }

  /** The connection logged in or closed: it no longer counts. Safe to call twice. */
  settle(conn: T): void {
    const source = this.pending.get(conn);
    if (source === undefined) return;
    this.pending.delete(conn);
    const left = (this.perSource.get(source) ?? 1) - 1;
    if (left > 0) this.perSource.set(source, left);
    else this.perSource.delete(source);
  }

  /** A connection from `source` failed to log in or timed out; true when that made the source refused. */
  penalize(source: string, now: number): boolean {
    if (PENALTY_EXEMPT.has(source)) return false;
    const limits = this.limits();
    const was = this.remainingPenalty(source, now);
    const until = now + Math.min(was + limits.penaltyMs, limits.penaltyMaxMs);
    this.penalties.delete(source); // re-insert: the Map's order is the order of last penalty
    this.penalties.set(source, until);
    this.forgetPenalties(now);
    return was <= PENALTY_ENFORCED_ABOVE_MS && until - now > PENALTY_ENFORCED_ABOVE_MS;
  }

  remainingPenalty(source: string, now: number): number {
    return Math.max(0, (this.penalties.get(source) ?? 0) - now);
  }

  get unauthenticated(): number {
    return this.pending.size;
  }

  private forgetPenalties(now: number): void {
    if (this.penalties.size <= MAX_PENALIZED_SOURCES) return;
    for (const [source, until] of this.penalties) if (until <= now) this.penalties.delete(source);
    for (const source of this.penalties.keys()) {
      if (this.penalties.size <= MAX_PENALIZED_SOURCES) break;
      this.penalties.delete(source);
    }
  }
}

/**
 * The unit a budget is kept for: an IPv4 address, or an IPv6 /64 (one end user gets a whole
 * /64, so counting single IPv6 addresses would count nothing).
 */
export function sourceOf(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  if (!net.isIPv6(address) || address === '::1') return address;
  const groups = expandIPv6(address);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => g.replace(/^0+(?=.)/, '').toLowerCase());
}
