import net from 'node:net';

/**
 * Ports handed out moments ago may not be recorded by the supervisor nor bound by an app yet, so a
 * deploy of another branch running at the same time would get them again: they are avoided for a
 * while, unless the range has nothing else.
 */
const RESERVE_MS = 10_000;
const handedOut = new Map<number, number>();

/**
 * The `count` lowest ports in [min, max) that are not in `used` and can be bound on 127.0.0.1
 * right now (something outside slipway may hold one).
 */
export async function allocatePorts(count: number, range: { min: number; max: number }, used: Set<number>): Promise<number[]> {
  const now = Date.now();
  for (const [port, at] of handedOut) if (now - at > RESERVE_MS) handedOut.delete(port);
  const picked: number[] = [];
  for (const avoidRecent of [true, false]) {
    for (let port = range.min; port < range.max && picked.length < count; port++) {
      const skip = () => used.has(port) || picked.includes(port) || (avoidRecent && handedOut.has(port));
      // Checked again after the await: a concurrent call may have taken the port meanwhile.
      if (skip() || !(await bindable(port)) || skip()) continue;
      picked.push(port);
      handedOut.set(port, now);
    }
  }
  if (picked.length < count) {
    for (const port of picked) handedOut.delete(port);
    const need = count > 1 ? `: ${count} needed, ${picked.length} free` : '';
    throw new Error(`no free port in ${range.min}-${range.max - 1} (ports in slipway.yml)${need}`);
  }
  return picked.sort((a, b) => a - b);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
