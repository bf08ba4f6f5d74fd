/**
 * The gRPC side of cluster credentials (lib/security/cluster-credentials.ts):
 * channel credentials and a secret-adding interceptor for internal clients,
 * server credentials, and the check internal servers run on every call.
 */
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_AUTH_HEADER, clusterCredentials, verifyClusterSecret, type ClusterCredentials } from '../security/cluster-credentials';

/** Channel credentials for calls to internal services (mTLS when configured). */
export function internalChannelCredentials(given?: ClusterCredentials): grpc.ChannelCredentials {
  const c = given ?? clusterCredentials();
  return c.tls ? grpc.credentials.createSsl(c.tls.ca, c.tls.key, c.tls.cert) : grpc.credentials.createInsecure();
}

/** Client interceptors that attach the cluster secret to every call. */
export function internalClientInterceptors(given?: ClusterCredentials): grpc.Interceptor[] {
  const secret = (given ?? clusterCredentials()).secret;
  if (!secret) return [];
  return [
    (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          metadata.set(CLUSTER_AUTH_HEADER, secret);
          next(metadata, listener);
        },
      }),
  ];
}

/** Channel options for an internal client: the interceptors above. */
export function internalChannelOptions(given?: ClusterCredentials): grpc.ChannelOptions {
  return { interceptors: internalClientInterceptors(given) } as grpc.ChannelOptions;
}

/**
 * Server credentials. Internal servers with TLS require a client certificate
 * signed by the cluster CA; a public listener (gateway) serves TLS without one.
 */
export function serverCredentials(kind: 'internal' | 'public', c: ClusterCredentials = clusterCredentials()): grpc.ServerCredentials {
  if (!c.tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(kind === 'internal' ? c.tls.ca : null, [{ private_key: c.tls.key, cert_chain: c.tls.cert }], kind === 'internal');
}

/**
 * @throws BlockstoreError UNAUTHENTICATED when the call's cluster secret is missing or wrong.
 */
export function verifyClusterCall(metadata: grpc.Metadata, c: ClusterCredentials = clusterCredentials()): void {
  verifyClusterSecret(metadata.get(CLUSTER_AUTH_HEADER)[0], c);
}
