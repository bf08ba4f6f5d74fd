/**
 * The one place that constructs etcd clients. Only coordination
 * imports etcd3 (checked by test/unit/boundaries.test.ts).
 *
 * A server process opens one client (`connectEtcd`) in its composition root
 * and hands it to every coordination part it uses; they never close it.
 * Tools and tests may hand a part endpoints instead: it then opens a client
 * of its own and closes it with itself.
 */
import { Etcd3 } from 'etcd3';

export { Etcd3 };

/** A shared client, or endpoints for a client of one's own. */
export type EtcdSource = Etcd3 | string[];

export function connectEtcd(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 2000,
    grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 3000 },
  });
}

/** The client to use for `source`, and how to let go of it (closes only a client opened here). */
export function useEtcd(source: EtcdSource): { etcd: Etcd3; release: () => void } {
  if (Array.isArray(source)) {
    const etcd = connectEtcd(source);
    return { etcd, release: () => etcd.close() };
  }
  return { etcd: source, release: () => {} };
}

/** Runs `fn` with a client for `source`, released after. */
export async function withEtcd<T>(source: EtcdSource, fn: (etcd: Etcd3) => Promise<T>): Promise<T> {
  const { etcd, release } = useEtcd(source);
  try {
    return await fn(etcd);
  } finally {
    release();
  }
}
