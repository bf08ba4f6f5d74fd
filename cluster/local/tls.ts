/**
 * A local certificate authority for `cluster up --tls`: one CA, one node
 * certificate every local node serves and presents as a client (mutual TLS
 * between nodes), and the balancer's certificate+key bundle, all made with
 * Debian's openssl (EC P-256) under <state>/tls/, keys mode 0600. Made once;
 * later `cluster up`s reuse them. Production fleets bring their own PKI
 * (one certificate per node; see cluster/deploy).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface LocalTls {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** HAProxy's `crt`: certificate then key in one file. */
  bundle: string;
}

export function localTlsPaths(stateDir: string): LocalTls {
  const dir = join(stateDir, 'tls');
  return { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'node.pem'), key: join(dir, 'node.key'), bundle: join(dir, 'balancer.pem') };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Creates the CA and certificates unless present. `hosts` are the names and
 * addresses clients dial (subjectAltName).
 * @throws Error when openssl fails (its stderr in the message).
 */
export function ensureLocalTls(stateDir: string, hosts: string[]): LocalTls {
  const t = localTlsPaths(stateDir);
  if ([t.ca, t.cert, t.key, t.bundle].every((p) => existsSync(p))) return t;
  mkdirSync(t.dir, { recursive: true, mode: 0o700 });
  const caKey = join(t.dir, 'ca.key');
  const csr = join(t.dir, 'node.csr');
  const ext = join(t.dir, 'node.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', t.ca, '-days', '3650', '-subj', '/CN=blockstore local cluster CA']);
  openssl(['req', ...ec, '-keyout', t.key, '-out', csr, '-subj', '/CN=blockstore-node']);
  const names = [...new Set(['127.0.0.1', 'localhost', ...hosts])].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`));
  writeFileSync(ext, `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', t.ca, '-CAkey', caKey, '-CAcreateserial', '-out', t.cert, '-days', '825', '-extfile', ext]);
  writeFileSync(t.bundle, Buffer.concat([readFileSync(t.cert), readFileSync(t.key)]), { mode: 0o600 });
  for (const k of [caKey, t.key]) chmodSync(k, 0o600);
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  return t;
}
