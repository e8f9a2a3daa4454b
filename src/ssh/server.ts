import type { AddressInfo, Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel, AuthContext, PublicKeyAuthContext } from 'ssh2';
import { sshFingerprint } from '../config/keys.ts';
import type { Limits } from '../config/types.ts';
import { reportInternal } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { HostKey } from './hostkeys.ts';

const { Server, utils } = ssh2;

export interface Identity {
  user: string;
  fingerprint: string;
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
}

export interface SessionHandlers {
  /** Runs `ssh host <command>`; resolves to the exit status. */
  exec(ctx: SessionContext, command: string, channel: ServerChannel): Promise<number>;
  /** Runs an interactive session (`ssh host`). */
  shell(ctx: SessionContext, channel: ServerChannel): Promise<number>;
}

export interface SshServerOptions {
  hostKeys: HostKey[];
  limits: () => Limits;
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
}

export async function startSshServer(opts: SshServerOptions, host: string, port: number): Promise<RunningSshServer> {
  const server = new Server(
    { hostKeys: opts.hostKeys.map((k) => k.privateKey), ident: 'slipway' },
    (client, info) => handleConnection(client, `${info.ip}:${info.port}`, opts),
  );
  server.maxConnections = opts.limits().maxConnections;
  // ssh2 only sees a connection once the client sent its version line; the timers start at accept.
  const tcp = (server as unknown as { _srv: import('node:net').Server })._srv;
  tcp.on('connection', (socket: Socket) => guardSocket(socket, opts));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err: Error) => opts.log.error('ssh server error', { error: err.message }));
  const addr = server.address() as AddressInfo;
  return {
    host,
    port: addr.port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Sockets that completed authentication; the handshake timer spares them. */
const authenticated = new WeakSet<Socket>();

function guardSocket(socket: Socket, opts: SshServerOptions): void {
  const limits = opts.limits();
  const remote = `${socket.remoteAddress}:${socket.remotePort}`;
  if (socket.destroyed) {
    opts.log.info('connection refused: limits.max_connections reached', { remote, max: limits.maxConnections });
    return;
  }
  const timer = setTimeout(() => {
    if (authenticated.has(socket)) return;
    opts.log.info('handshake timeout', { remote });
    socket.destroy();
  }, limits.handshakeTimeoutMs);
  socket.once('close', () => clearTimeout(timer));
  socket.setTimeout(limits.idleTimeoutMs, () => {
    opts.log.info('closing idle connection', { remote });
    socket.destroy();
  });
}

function handleConnection(client: Connection, remote: string, opts: SshServerOptions): void {
  const limits = opts.limits();
  const log = opts.log;
  let identity: Identity | null = null;
  let failures = 0;
  let sessions = 0;

  client.on('error', (err: Error) => log.info('connection error', { remote, error: err.message }));

  // Like OpenSSH, only failed attempts count: not the initial `none`, not a key query we accept.
  const refuse = (ctx: AuthContext, reason: string, fields: Record<string, unknown> = {}) => {
    log.info(reason, { remote, ...fields });
    if (++failures >= limits.maxAuthAttempts) {
      log.info('too many authentication attempts', { remote, max: limits.maxAuthAttempts });
      ctx.reject([]);
      client.end();
      return;
    }
    ctx.reject(['publickey']);
  };

  client.on('authentication', (ctx: AuthContext) => {
    if (ctx.method === 'none') return ctx.reject(['publickey']);
    if (ctx.method !== 'publickey') return refuse(ctx, `${ctx.method} authentication refused (keys only)`);
    const pk = ctx as PublicKeyAuthContext;
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
    identity = who;
    pk.accept();
  });

  client.on('ready', () => {
    const sock = (client as unknown as { _sock?: Socket })._sock;
    if (sock) authenticated.add(sock);
    log.info('authenticated', { remote, user: identity!.user, fingerprint: identity!.fingerprint });
    client.on('session', (accept, reject) => {
      if (sessions >= limits.maxSessionsPerConnection) return reject();
      sessions++;
      const session = accept();
      const env: Record<string, string> = {};
      let pty: PtyInfo | null = null;
      const resizers: ((c: number, r: number) => void)[] = [];
      const ctx = (): SessionContext => ({ ...identity!, remote, env, pty, onResize: (fn) => resizers.push(fn) });
      // The slot is freed when the channel closes, whether or not it ever ran anything.
      session.once('close', () => sessions--);

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
      session.once('exec', (acc, _rej, info) => run(acc(), (ch) => opts.handlers.exec(ctx(), info.command, ch)));
      session.once('shell', (acc) => run(acc(), (ch) => opts.handlers.shell(ctx(), ch)));
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
