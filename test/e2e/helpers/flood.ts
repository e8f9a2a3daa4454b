import net from 'node:net';

/** Loopback addresses the flood comes from; the legitimate client stays on 127.0.0.1. */
export const FLOOD_SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

/**
 * Connections that hold a slot without ever logging in, each reopened `reopenMs` after the
 * server closes it: half silent, half babbling (a version line, then a packet announced as
 * 30 kB and sent one byte every 100 ms). Used by the flood test and `npm run bench:flood`.
 */
export class Flood {
  private readonly sockets = new Set<net.Socket>();
  private stopped = false;
  opened = 0;

  constructor(
    private readonly port: number,
    private readonly reopenMs = 1000,
  ) {}

  /** `count` connections spread over the flood sources. */
  start(count: number): void {
    for (let i = 0; i < count; i++) this.open(FLOOD_SOURCES[i % FLOOD_SOURCES.length]!, i % 2 === 0);
  }

  get openNow(): number {
    return this.sockets.size;
  }

  private open(localAddress: string, babble: boolean): void {
    if (this.stopped) return;
    this.opened++;
    const sock = net.connect({ host: '127.0.0.1', port: this.port, localAddress });
    this.sockets.add(sock);
    let timer: NodeJS.Timeout | undefined;
    sock.on('error', () => {});
    if (babble) {
      sock.once('connect', () => {
        sock.write('SSH-2.0-babbler\r\n');
        sock.write(Buffer.from([0, 0, 0x75, 0x30]));
        timer = setInterval(() => sock.write('x'), 100);
      });
    }
    sock.on('close', () => {
      clearInterval(timer);
      this.sockets.delete(sock);
      setTimeout(() => this.open(localAddress, babble), this.reopenMs);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
  }
}
