/**
 * Cluster credentials: what lets one blockstore node call another's internal
 * services (block daemons, metadata nodes) and what those services demand.
 *
 * Two mechanisms, usable together:
 * - a cluster secret, sent by every internal client in the
 *   `x-blockstore-cluster-auth` header and compared in constant time;
 * - mutual TLS: every node holds a certificate signed by the cluster CA;
 *   internal servers require a client certificate signed by it, clients
 *   verify the server's against it.
 *
 * A server node loads its set from its flags (environment as fallback)
 * into its config, and its composition root hands it to its gRPC server,
 * side port and every internal client it opens (checked by the boundary
 * test). Tools and tests use a process-wide default instead: installed by
 * them, else read from BLOCKSTORE_CLUSTER_SECRET / _FILE and BLOCKSTORE_TLS_*.
 * The gRPC side (channel and server credentials) is lib/rpc/credentials.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockstoreError } from '../errors';

export const CLUSTER_AUTH_HEADER = 'x-blockstore-cluster-auth';
const MIN_SECRET_CHARS = 16;

export interface TlsMaterial {
  /** PEM: the cluster CA (verifies peers). */
  ca: Buffer;
  /** PEM: this node's certificate chain and key (served, and shown as a client). */
  cert: Buffer;
  key: Buffer;
}

export interface ClusterCredentials {
  secret?: string;
  tls?: TlsMaterial;
}

export interface CredentialSources {
  secretFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new BlockstoreError('INVALID_ARGUMENT', `${what}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Reads the credentials named by flags, falling back to the environment.
 * @throws BlockstoreError INVALID_ARGUMENT for unreadable files, a short secret or a partial TLS set.
 */
export function loadClusterCredentials(src: CredentialSources = {}, env: NodeJS.ProcessEnv = process.env): ClusterCredentials {
  const out: ClusterCredentials = {};
  const secretFile = src.secretFile ?? env.BLOCKSTORE_CLUSTER_SECRET_FILE;
  const secret = secretFile ? readPem(secretFile, '--cluster-secret-file').toString('utf8').trim() : env.BLOCKSTORE_CLUSTER_SECRET?.trim();
  if (secret !== undefined && secret !== '') {
    if (secret.length < MIN_SECRET_CHARS || /[^\x21-\x7e]/.test(secret)) {
      throw new BlockstoreError('INVALID_ARGUMENT', `cluster secret: at least ${MIN_SECRET_CHARS} printable ASCII characters, no spaces`);
    }
    out.secret = secret;
  }
  const ca = src.tlsCa ?? env.BLOCKSTORE_TLS_CA;
  const cert = src.tlsCert ?? env.BLOCKSTORE_TLS_CERT;
  const key = src.tlsKey ?? env.BLOCKSTORE_TLS_KEY;
  if (ca || cert || key) {
    if (!ca || !cert || !key) throw new BlockstoreError('INVALID_ARGUMENT', '--tls-ca, --tls-cert and --tls-key go together');
    out.tls = { ca: readPem(ca, '--tls-ca'), cert: readPem(cert, '--tls-cert'), key: readPem(key, '--tls-key') };
  }
  return out;
}

let installed: ClusterCredentials | undefined;

/** Sets the process-wide default (tools and tests; servers carry their own in their config). */
export function installClusterCredentials(c: ClusterCredentials): void {
  installed = c;
}

/** The process-wide default (tools and tests): installed, else from the environment. */
export function clusterCredentials(): ClusterCredentials {
  installed ??= loadClusterCredentials();
  return installed;
}

/**
 * @throws BlockstoreError INVALID_ARGUMENT when neither a secret nor mTLS is
 * configured: an internal service must never listen open.
 */
export function requireClusterCredentials(c: ClusterCredentials = clusterCredentials()): void {
  if (!c.secret && !c.tls) {
    throw new BlockstoreError(
      'INVALID_ARGUMENT',
      'internal services need cluster credentials: --cluster-secret-file (or BLOCKSTORE_CLUSTER_SECRET) and/or --tls-ca/--tls-cert/--tls-key for mutual TLS',
    );
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Checks the secret an internal call carried (mTLS, when on, was already
 * enforced by the handshake).
 * @throws BlockstoreError UNAUTHENTICATED when the secret is missing or wrong.
 */
export function verifyClusterSecret(given: unknown, c: ClusterCredentials = clusterCredentials()): void {
  if (!c.secret) return;
  if (typeof given !== 'string' || given === '') throw new BlockstoreError('UNAUTHENTICATED', `internal service: missing cluster credentials (${CLUSTER_AUTH_HEADER})`);
  if (!secretsEqual(given, c.secret)) throw new BlockstoreError('UNAUTHENTICATED', 'internal service: wrong cluster credentials');
}

/** For HTTP side-port hooks that change behaviour (fault drills): same secret, same header. */
export function verifyClusterHeader(value: string | string[] | undefined, c: ClusterCredentials = clusterCredentials()): boolean {
  if (!c.secret) return !c.tls; // with mTLS only, the side port has no way to check: refuse
  return typeof value === 'string' && secretsEqual(value, c.secret);
}

/** Headers for an HTTP side-port hook call (fault drills). */
export function clusterAuthHeaders(c: ClusterCredentials = clusterCredentials()): Record<string, string> {
  return c.secret ? { [CLUSTER_AUTH_HEADER]: c.secret } : {};
}
