import { createServer } from 'node:net';

/**
 * A base port whose whole local-cluster range (base+1 … base+3, the
 * console's base+80, and base+100…+605 for nodes and their side ports) is free right now (for `cluster up` beside other clusters: tests, the QAS host-budget cluster).
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
    const ports = [b + 1, b + 2, b + 3, b + 80, b + 99, ...[100, 200, 300, 400, 500, 600].flatMap((o) => [1, 2, 3, 4, 5].map((i) => b + o + i))];
    let ok = true;
    for (const p of ports) if (!(await free(p))) ok = false;
    if (ok) return b;
  }
  throw new Error('no free port range');
}
