import { bindable, ephemeralPorts, SINGLE_PORTS_FROM } from '../../cluster/local/ports';

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
