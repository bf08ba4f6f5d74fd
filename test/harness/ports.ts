import { createServer } from 'node:net';

/**
 * A port that was free a moment ago (bind to 0, read, release). For
 * programs that cannot take port 0 themselves (etcd's peer and client URLs).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A base port whose whole local-cluster range (base+1 … base+3, and
 * base+100…+405 for nodes) is free right now (for `cluster up` in tests).
 */
export async function freeRange(): Promise<number> {
  const free = (p: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const b = 20_000 + Math.floor(Math.random() * 400) * 100;
    const ports = [b + 1, b + 2, b + 3, b + 99, ...[100, 200, 300, 400].flatMap((o) => [1, 2, 3, 4, 5].map((i) => b + o + i))];
    let ok = true;
    for (const p of ports) if (!(await free(p))) ok = false;
    if (ok) return b;
  }
  throw new Error('no free port range');
}
