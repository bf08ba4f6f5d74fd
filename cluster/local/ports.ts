import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The highest port a local-cluster range uses above its base. */
const RANGE_SPAN = 605;
/**
 * Local-cluster ranges stay below this; single ports for tests (etcd's
 * URLs, test/harness/ports.ts) come from here up to the ephemeral ports, so
 * the two never pick the same port while a cluster is still starting.
 */
export const SINGLE_PORTS_FROM = 25_000;

/**
 * The kernel's range of ephemeral ports (the local ports outgoing
 * connections take). A listening port inside it can be taken by any
 * outgoing connection between the check that it is free and the bind: a
 * node then fails to start with EADDRINUSE. Default: Linux's 32768–60999.
 */
export function ephemeralPorts(text?: string): { low: number; high: number } {
  try {
    const [low, high] = (text ?? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! > 0 && high! >= low!) return { low: low!, high: high! };
  } catch {
    // not Linux, or no /proc: the default
  }
  return { low: 32768, high: 60999 };
}

/**
 * Bases a local cluster may use, on a 100-port grid: every port of the
 * range below both the ephemeral ports and the single ports, or above the
 * ephemeral ports.
 */
export function candidateBases(ephemeral = ephemeralPorts()): number[] {
  const out: number[] = [];
  for (let b = 10_000; b + RANGE_SPAN < 65_536; b += 100) {
    if (b + RANGE_SPAN < Math.min(ephemeral.low, SINGLE_PORTS_FROM) || b > ephemeral.high) out.push(b);
  }
  return out;
}

/** The port bound on 127.0.0.1 (0: the kernel's choice) and released at once, or undefined when it cannot be bound now. */
export function bindable(port: number): Promise<number | undefined> {
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
 * A base port whose whole local-cluster range (base+1 … base+3, the
 * console's base+80, and base+100…+605 for nodes and their side ports) is
 * free right now and outside the ephemeral ports (for `cluster up` beside
 * other clusters: tests, the QAS host-budget cluster).
 */
export async function freeRange(): Promise<number> {
  const bases = candidateBases();
  if (!bases.length) throw new Error('no port range outside the ephemeral ports (/proc/sys/net/ipv4/ip_local_port_range)');
  for (let attempt = 0; attempt < 50; attempt++) {
    const b = bases[Math.floor(Math.random() * bases.length)]!;
    const ports = [b + 1, b + 2, b + 3, b + 80, b + 99, ...[100, 200, 300, 400, 500, 600].flatMap((o) => [1, 2, 3, 4, 5].map((i) => b + o + i))];
    let ok = true;
    for (const p of ports) if ((await bindable(p)) === undefined) ok = false;
    if (ok) return b;
  }
  throw new Error('no free port range');
}
