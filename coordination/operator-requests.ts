/**
 * Asking the cluster's operator for something (operator/requests/…): today
 * the console's QAS-001 drill. Only an operator that runs drills (the local
 * supervisor) answers, in its status (coordination/keys.ts OperatorStatus).
 */
import { randomUUID } from 'node:crypto';
import { withEtcd, type EtcdSource } from './etcd';
import { operatorRequestsPrefix, type DrillRequest } from './keys';

/** Asks for a drill; resolves to the request's id (the operator status names it once the drill starts). */
export async function requestDrill(source: EtcdSource, prefix: string, requestedBy: string): Promise<string> {
  const req: DrillRequest = { id: randomUUID(), requestedBy, at: new Date().toISOString() };
  await withEtcd(source, async (etcd) => {
    await etcd.put(`${operatorRequestsPrefix(prefix)}drill`).value(JSON.stringify(req));
  });
  return req.id;
}
