/**
 * The one place that constructs etcd clients. Only coordination
 * imports etcd3 (checked by test/unit/boundaries.test.ts).
 */
import { Etcd3 } from 'etcd3';

export { Etcd3 };

export function connectEtcd(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 2000,
    grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 3000 },
  });
}
