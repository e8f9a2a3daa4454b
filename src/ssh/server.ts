import net, { type AddressInfo, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel, AuthContext, PublicKeyAuthContext } from 'ssh2';
import { sshFingerprint } from '../config/keys.ts';
import type { Limits, SshSettings } from '../config/types.ts';
import { reportInternal } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { CIPHERS, COMPRESSION, hostKeyAlgorithms, KEX, MACS, userSignatureAlgorithms } from './algorithms.ts';
import type { HostKey } from './hostkeys.ts';
import { IdleWatch } from './idle.ts';
import { PreauthBudget } from './preauth.ts';

const { Server, utils } = ssh2;

export interface Identity {
  user: string;
  fingerprint: string;
  /** the comment of the key in keys/<user>.pub (for the log) */
  comment?: string;
}

export interface PtyInfo {
  term: string;
  cols: number;
  rows: number;
}

export interface SessionContext extends Identity {
  remote: string;
  /** env requests the client sent and we keep (only GIT_PROTOCOL) */
  env: Record<string, string>;
  pty: PtyInfo | null;
  /** resize events of this session's pty */
  onResize: (fn: (cols: number, rows: number) => void) => void;
  /**
   * For a stream the server feeds when it has something (the dashboard, `logs -f`): the
   * connection is not idle while it runs. Call the returned function when it ends.
   */
  holdOpen: () => () => void;
}

export interface SessionHandlers {
  /** Runs `ssh host <command>`; resolves to the exit status. */
  exec(ctx: SessionContext, command: string, channel: ServerChannel): Promise<number>;
  /** Runs an interactive session (`ssh host`). */
  shell(ctx: SessionContext, channel: ServerChannel): Promise<number>;
}

export interface SshServerOptions {
  /** the keys offered (see `offeredHostKeys`) */
  hostKeys: HostKey[];
  limits: () => Limits;
  /** read at every login; only `ecdsaHostKey` needs a restart */
  settings: () => SshSettings;
  /** Who owns this public key blob, or null. Only called for keys whose signature verified. */
  identify: (blob: Buffer) => Identity | null;
  /** Is this key known at all (answering a key query before a signature). */
  knows: (blob: Buffer) => boolean;
  handlers: SessionHandlers;
  log: Logger;
}

export interface RunningSshServer {
  host: string;
  port: number;
  close(): Promise<void>;
  /**
   * After a config change: closes the connections whose key no longer identifies the user it
   * logged in as (key removed, user lost login), and applies a changed idle timeout to open ones
   * (other limits are read live at each use).
   */
  revalidate(): void;
}

/** A logged-in connection, as `revalidate` checks it. */
interface LiveConnection {
  client: Connection;
  socket: Socket | undefined;
  blob: Buffer;
  identity: Identity;
  remote: string;
  channels: Set<ServerChannel>;
  idle?: IdleWatch;
}

/** The host keys the server offers: the ECDSA one only when the config asks for it. */
export function offeredHostKeys(keys: HostKey[], settings: SshSettings): HostKey[] {
  return keys.filter((k) => k.type !== 'ecdsa' || settings.ecdsaHostKey);
}

export async function startSshServer(opts: SshServerOptions, host: string, port: number): Promise<RunningSshServer> {
  const ecdsa = opts.hostKeys.some((k) => k.type === 'ecdsa');
  const config = {
    hostKeys: opts.hostKeys.map((k) => k.privateKey),
    ident: 'slipway',
    algorithms: { kex: KEX, cipher: CIPHERS, hmac: MACS, compress: COMPRESSION, serverHostKey: hostKeyAlgorithms(ecdsa) },
    // Read by our ssh2 patch (patches/): the EXT_INFO list of signature algorithms we accept.
    serverSigAlgs: () => userSignatureAlgorithms(opts.settings().rsaSha1Signatures),
  };
  const door = new Door(opts);
  const live = new Set<LiveConnection>();
  const server = new Server(config as ConstructorParameters<typeof Server>[0], (client, info) =>
    handleConnection(client, `${info.ip}:${info.port}`, info.header.identRaw, opts, door, live));
  // ssh2 would count every TCP connection against one limit; we accept them ourselves (Door)
  // and hand ssh2 only those admitted.
  const tcp = net.createServer((socket) => {
    if (door.accept(socket)) server.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  tcp.on('error', (err: Error) => opts.log.error('ssh server error', { error: err.message }));
  const addr = tcp.address() as AddressInfo;
  return {
    host,
    port: addr.port,
    close: () => new Promise<void>((r) => tcp.close(() => r())),
    revalidate: () => {
      for (const c of live) {
        c.idle?.recheck();
        const now = opts.identify(c.blob);
        if (now && now.user === c.identity.user) continue;
        opts.log.info('closing a connection: its key is no longer in the config', { remote: c.remote, user: c.identity.user, fingerprint: c.identity.fingerprint });
        live.delete(c);
        for (const ch of c.channels) {
          try {
            ch.stderr.write('slipway: your key is no longer authorized; closing the connection\n');
            ch.exit(1);
            ch.end();
          } catch {
            /* gone already */
          }
        }
        c.client.end();
        // A client that ignores the disconnect is cut off.
        setTimeout(() => c.socket?.destroy(), 2000).unref();
      }
    },
  };
}

interface ConnectionState {
  remote: string;
  source: string;
  authFailures: number;
  loggedIn: boolean;
  /** its end was already counted against its source (a timeout) */
  penalized: boolean;
}

/**
 * Admits TCP connections: unauthenticated ones within the pre-auth budget (limits
 * max_unauthenticated, max_unauthenticated_per_source, penalty), logged-in ones up to
 * limits.max_connections; runs the handshake and idle timers.
 */
class Door {
  private readonly budget: PreauthBudget<Socket>;
  private readonly states = new WeakMap<Socket, ConnectionState>();
  loggedIn = 0;
  /** per user: logged-in connections and open sessions */
  private readonly users = new Map<string, { connections: number; sessions: number }>();

  constructor(private readonly opts: SshServerOptions) {
    this.budget = new PreauthBudget(() => opts.limits());
  }

  /** false: the socket was refused and destroyed. */
  accept(socket: Socket): boolean {
    const limits = this.opts.limits();
    const log = this.opts.log;
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const admission = this.budget.admit(socket, socket.remoteAddress ?? '', Date.now());
    if (!admission.admitted) {
      // debug only: a flood must not flood the log as well
      log.debug('connection refused before the SSH banner', { remote, reason: admission.reason });
      socket.destroy();
      return false;
    }
    if (admission.evicted) {
      const old = this.states.get(admission.evicted);
      log.info('dropped the oldest unauthenticated connection: limits.max_unauthenticated reached', { remote: old?.remote, max: limits.maxUnauthenticated });
      admission.evicted.destroy();
    }
    const state: ConnectionState = { remote, source: admission.source, authFailures: 0, loggedIn: false, penalized: false };
    this.states.set(socket, state);
    const timer = setTimeout(() => {
      if (state.loggedIn) return;
      log.info('handshake timeout', { remote });
      this.penalize(state, 'handshake timeout');
      socket.destroy();
    }, limits.handshakeTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      this.budget.settle(socket);
      if (state.loggedIn) this.loggedIn--;
      else if (state.authFailures > 0) this.penalize(state, 'authentication failed');
    });
    // Until login; after it, IdleWatch decides what counts as idle.
    socket.setTimeout(limits.idleTimeoutMs, () => {
      log.info('closing idle connection', { remote });
      socket.destroy();
    });
    // A peer that vanished without a FIN is found by the kernel even while a stream holds the connection open.
    socket.setKeepAlive(true, 60_000);
    // Until login, what ssh2 answers to one read leaves in one write, as sshd does: NEWKEYS and
    // EXT_INFO arrive together, and libssh, which picks its RSA signature algorithm as soon as
    // it has NEWKEYS, sees server-sig-algs in time. Registered before ssh2's own listener.
    socket.on('data', () => {
      if (state.loggedIn) return;
      socket.cork();
      process.nextTick(() => socket.uncork());
    });
    return true;
  }

  state(socket: Socket | undefined): ConnectionState | undefined {
    return socket && this.states.get(socket);
  }

  /** A verified key wants in: false when limits.max_connections logged-in connections are open. */
  hasRoom(): boolean {
    return this.loggedIn < this.opts.limits().maxConnections;
  }

  loggedInNow(socket: Socket | undefined, state: ConnectionState | undefined): void {
    if (!socket || !state) return;
    state.loggedIn = true;
    this.loggedIn++;
    this.budget.settle(socket);
    socket.setTimeout(0);
  }

  /** The user's connections and sessions, counted until the returned function is called. */
  count(user: string, what: 'connections' | 'sessions'): { over: string | null; release: () => void } {
    const limits = this.opts.limits();
    const [max, key] = what === 'connections' ? [limits.maxConnectionsPerUser, 'max_connections_per_user'] : [limits.maxSessionsPerUser, 'max_sessions_per_user'];
    const counts = this.users.get(user) ?? { connections: 0, sessions: 0 };
    this.users.set(user, counts);
    const over = counts[what] >= max ? `too many ${what} open for ${user} (limits.${key}: ${max}); close some (dashboards, logs -f, other sessions) or raise the limit` : null;
    if (over) return { over, release: () => {} };
    counts[what]++;
    let released = false;
    return {
      over: null,
      release: () => {
        if (released) return;
        released = true;
        counts[what]--;
        if (counts.connections === 0 && counts.sessions === 0) this.users.delete(user);
      },
    };
  }

  private penalize(state: ConnectionState, why: string): void {
    if (state.penalized) return;
    state.penalized = true;
    if (this.budget.penalize(state.source, Date.now())) {
      const seconds = Math.round(this.budget.remainingPenalty(state.source, Date.now()) / 1000);
      this.opts.log.info('refusing a source for a while: its connections keep failing to log in', { source: state.source, seconds, last: why });
    }
  }
}

/** `clientVersion` is the client's identification line; it, login names and key comments are the client's words, escaped by the logger. */
function handleConnection(client: Connection, remote: string, clientVersion: string, opts: SshServerOptions, door: Door, live: Set<LiveConnection>): void {
  const limits = opts.limits();
  const log = opts.log;
  const socket = (client as unknown as { _sock?: Socket })._sock;
  const state = door.state(socket);
  let identity: Identity | null = null;
  let identityBlob: Buffer | null = null;
  let failures = 0;
  let sessions = 0;

  client.on('error', (err: Error) => log.info('connection error', { remote, error: err.message }));

  // Like OpenSSH, only failed attempts count: not the initial `none`, not a key query we accept.
  const refuse = (ctx: AuthContext, reason: string, fields: Record<string, unknown> = {}) => {
    log.info(reason, { remote, login: ctx.username, ...fields });
    if (state) state.authFailures++;
    if (++failures >= limits.maxAuthAttempts) {
      log.info('too many authentication attempts', { remote, max: limits.maxAuthAttempts });
      ctx.reject([]);
      client.end();
      return;
    }
    ctx.reject(['publickey']);
  };

  log.debug('connection', { remote, client: clientVersion });
  let login = '';
  client.on('authentication', (ctx: AuthContext) => {
    login = ctx.username;
    if (ctx.method === 'none') return ctx.reject(['publickey']);
    if (ctx.method !== 'publickey') return refuse(ctx, 'authentication method refused (keys only)', { method: ctx.method });
    const pk = ctx as PublicKeyAuthContext;
    // ssh2 names an RSA key `ssh-rsa` whatever was asked; without a hash it was SHA-1 `ssh-rsa`.
    if (pk.key.algo === 'ssh-rsa' && !pk.hashAlgo && !opts.settings().rsaSha1Signatures) {
      return refuse(ctx, 'ssh-rsa (SHA-1) signature refused (the client needs rsa-sha2-256/512, or ssh.rsa_sha1_signatures: true)', {
        fingerprint: sshFingerprint(pk.key.data),
      });
    }
    // A key offered without a signature is only a question ("would you take this key?").
    if (!pk.signature || !pk.blob) {
      if (opts.knows(pk.key.data)) return pk.accept();
      return refuse(ctx, 'unknown key refused', { fingerprint: sshFingerprint(pk.key.data) });
    }
    const parsed = utils.parseKey(publicKeyLine(pk.key.data));
    if (parsed instanceof Error || parsed.verify(pk.blob, pk.signature, pk.hashAlgo) !== true) {
      return refuse(ctx, 'signature did not verify', { fingerprint: sshFingerprint(pk.key.data) });
    }
    const who = opts.identify(pk.key.data);
    if (!who) return refuse(ctx, 'unknown key refused', { fingerprint: sshFingerprint(pk.key.data) });
    if (!door.hasRoom()) {
      log.info('login refused: limits.max_connections reached', { remote, user: who.user, max: limits.maxConnections });
      if (state) state.authFailures = 0; // full is not the client's fault
      ctx.reject([]);
      client.end();
      return;
    }
    identity = who;
    identityBlob = Buffer.from(pk.key.data);
    pk.accept();
  });

  client.on('ready', () => {
    door.loggedInNow(socket, state);
    const conn: LiveConnection = { client, socket, blob: identityBlob!, identity: identity!, remote, channels: new Set() };
    live.add(conn);
    client.once('close', () => live.delete(conn));
    const user = identity!.user;
    log.info('authenticated', { remote, user, fingerprint: identity!.fingerprint, key: identity!.comment, login, client: clientVersion });
    // Over the user's cap the login still completes, so that its first session can say why; then it ends.
    const connection = door.count(user, 'connections');
    if (connection.over) {
      log.info('login refused: limits.max_connections_per_user reached', { remote, user, max: opts.limits().maxConnectionsPerUser });
      setTimeout(() => client.end(), 5_000).unref();
    }
    const idle = new IdleWatch(
      () => opts.limits().idleTimeoutMs,
      () => {
        log.info('closing idle connection', { remote, user });
        socket?.destroy();
      },
    );
    conn.idle = idle;
    client.once('close', () => {
      connection.release();
      idle.stop();
    });
    client.on('session', (accept, reject) => {
      if (sessions >= limits.maxSessionsPerConnection) return reject();
      sessions++;
      idle.touch();
      const slot = connection.over ? { over: connection.over, release: () => {} } : door.count(user, 'sessions');
      if (slot.over && !connection.over) log.info('session refused: limits.max_sessions_per_user reached', { remote, user, max: opts.limits().maxSessionsPerUser });
      const session = accept();
      const env: Record<string, string> = {};
      let pty: PtyInfo | null = null;
      const resizers: ((c: number, r: number) => void)[] = [];
      const ctx = (): SessionContext => ({ ...identity!, remote, env, pty, onResize: (fn) => resizers.push(fn), holdOpen: () => idle.hold() });
      // The slot is freed when the channel closes, whether or not it ever ran anything.
      session.once('close', () => {
        sessions--;
        slot.release();
        idle.touch();
      });

      session.on('env', (acc, rej, info) => {
        if (info.key === 'GIT_PROTOCOL' && info.val.length < 200) {
          env.GIT_PROTOCOL = info.val;
          acc?.();
        } else rej?.();
      });
      session.on('pty', (acc, _rej, info) => {
        pty = { term: info.term || 'xterm-256color', cols: info.cols || 80, rows: info.rows || 24 };
        acc?.();
      });
      session.on('window-change', (acc, _rej, info) => {
        if (pty) {
          pty.cols = info.cols;
          pty.rows = info.rows;
        }
        for (const fn of resizers) fn(info.cols, info.rows);
        acc?.();
      });
      for (const refused of ['x11', 'auth-agent', 'subsystem', 'sftp', 'signal'] as const) {
        session.on(refused as 'x11', (_acc: unknown, rej?: () => void) => rej?.());
      }
      const start = (ch: ServerChannel, fn: (ch: ServerChannel) => Promise<number>) => {
        conn.channels.add(ch);
        ch.once('close', () => conn.channels.delete(ch));
        idle.watch(ch);
        if (slot.over) {
          const over = slot.over;
          return run(ch, async (c) => (c.stderr.write(`${over}\n`), 1));
        }
        run(ch, fn);
      };
      session.once('exec', (acc, _rej, info) => start(acc(), (ch) => opts.handlers.exec(ctx(), info.command, ch)));
      session.once('shell', (acc) => start(acc(), (ch) => opts.handlers.shell(ctx(), ch)));
    });
    // Port forwarding (tcpip-forward, direct-tcpip, streamlocal) is refused.
    client.on('request', (_acc, rej) => rej?.());
    client.on('tcpip', (_acc, rej) => rej());
  });

  function run(channel: ServerChannel, fn: (ch: ServerChannel) => Promise<number>): void {
    channel.on('error', () => {});
    fn(channel)
      .catch((err: unknown) => {
        const line = reportInternal(log, err, { remote, user: identity?.user });
        if (!channel.destroyed) channel.stderr.write(`${line}\n`);
        return 1;
      })
      .then((code) => {
        if (!channel.destroyed) {
          try {
            channel.exit(code);
            channel.end();
          } catch {
            /* the client already went away */
          }
        }
      });
  }
}

/** An OpenSSH key line from a wire blob; the type comes from the blob (the auth request may say rsa-sha2-256 for an ssh-rsa key). */
function publicKeyLine(blob: Buffer): string {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = blob.subarray(4, 4 + Math.min(len, 64)).toString('latin1');
  return `${type} ${blob.toString('base64')}`;
}
