import { createServer } from 'node:net';
import { ephemeralPorts, SINGLE_PORTS_FROM } from '../../cluster/local/ports';

/** True when `port` can be bound on 127.0.0.1 right now. */
function bindable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => resolve(got));
    });
  });
}

/**
 * A port that was free a moment ago, for programs that cannot take port 0
 * themselves (etcd's peer and client URLs). Chosen between the local
 * clusters' ranges and the kernel's ephemeral ports, so neither a cluster
 * starting up nor an outgoing connection takes it before the program binds
 * it; port 0's choice when there is no room there.
 */
export async function freePort(): Promise<number> {
  const { low } = ephemeralPorts();
  for (let attempt = 0; attempt < 50 && low > SINGLE_PORTS_FROM + 100; attempt++) {
    const p = await bindable(SINGLE_PORTS_FROM + Math.floor(Math.random() * (low - SINGLE_PORTS_FROM)));
    if (p !== undefined) return p;
  }
  const p = await bindable(0);
  if (p === undefined) throw new Error('no free port');
  return p;
}

export { freeRange } from '../../cluster/local/ports';
