/**
 * The shipped Envoy bootstrap adapted to the local cluster: the balancer's
 * address, the admin port and the EDS directory inside the state directory.
 * `cluster up` runs Envoy instead of HAProxy when ENVOY_BIN is set or
 * `envoy` is on PATH.
 */
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const SHIPPED = join(__dirname, 'envoy.yaml');

export function localEnvoyConfig(o: { host: string; port: number; adminPort: number; edsDir: string }): string {
  return readFileSync(SHIPPED, 'utf8')
    .replace('socket_address: { address: 127.0.0.1, port_value: 9901 }', `socket_address: { address: ${o.host}, port_value: ${o.adminPort} }`)
    .replace('socket_address: { address: 0.0.0.0, port_value: 7000 }', `socket_address: { address: ${o.host}, port_value: ${o.port} }`)
    .replace('path: /etc/blockstore/envoy/gateways-eds.yaml', `path: ${join(o.edsDir, 'gateways-eds.yaml')}`)
    .replace('watched_directory: { path: /etc/blockstore/envoy }', `watched_directory: { path: ${o.edsDir} }`);
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
