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

export { freeRange } from '../../cluster/local/ports';
