/**
 * The shipped Envoy bootstrap adapted to the local cluster: the balancer's
 * address, the admin port and the EDS directory inside the state directory.
 * `cluster up` runs Envoy instead of HAProxy when ENVOY_BIN is set or
 * `envoy` is on PATH.
 */
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT } from '../../lib/root';

const SHIPPED = join(ROOT, 'cluster', 'envoy', 'envoy.yaml');

/**
 * With `tls` (a `cluster up --tls` cluster) the shipped TLS blocks point at
 * the local CA and certificate; without, they are removed (plaintext).
 */
export function localEnvoyConfig(o: { host: string; port: number; consolePort: number; adminPort: number; edsDir: string; tls?: { ca: string; cert: string; key: string } }): string {
  const text = readFileSync(SHIPPED, 'utf8')
    .replace('socket_address: { address: 127.0.0.1, port_value: 9901 }', `socket_address: { address: ${o.host}, port_value: ${o.adminPort} }`)
    .replace('socket_address: { address: 0.0.0.0, port_value: 7000 }', `socket_address: { address: ${o.host}, port_value: ${o.port} }`)
    .replace('socket_address: { address: 0.0.0.0, port_value: 7080 }', `socket_address: { address: ${o.host}, port_value: ${o.consolePort} }`)
    .replace('path: /etc/blockstore/envoy/gateways-eds.yaml', `path: ${join(o.edsDir, 'gateways-eds.yaml')}`)
    .replace('path: /etc/blockstore/envoy/consoles-eds.yaml', `path: ${join(o.edsDir, 'consoles-eds.yaml')}`)
    .replaceAll('watched_directory: { path: /etc/blockstore/envoy }', `watched_directory: { path: ${o.edsDir} }`);
  if (o.tls) {
    return text
      .replaceAll('filename: /etc/blockstore/tls/balancer.pem', `filename: ${o.tls.cert}`)
      .replaceAll('filename: /etc/blockstore/tls/balancer.key', `filename: ${o.tls.key}`)
      .replace('filename: /etc/blockstore/tls/ca.pem', `filename: ${o.tls.ca}`)
      // The local CA issues one node certificate, whose names include localhost.
      .replace('matcher: { exact: gateway.blockstore.internal }', 'matcher: { exact: localhost }');
  }
  const doc = parse(text) as { static_resources: { listeners: Array<{ filter_chains: Array<Record<string, unknown>> }>; clusters: Array<Record<string, unknown>> } };
  for (const l of doc.static_resources.listeners) for (const fc of l.filter_chains) delete fc.transport_socket;
  for (const c of doc.static_resources.clusters) delete c.transport_socket;
  return stringify(doc);
}

/** The Envoy binary to use: ENVOY_BIN, else `envoy` on PATH, else none. */
export function findEnvoy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.ENVOY_BIN) return env.ENVOY_BIN;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'envoy');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}
