/**
 * The address a node tells others to dial: `--advertise` when given, else
 * the bound address (a wildcard host becomes this machine's name).
 */
import { hostname } from 'node:os';

export function advertisedAddress(listen: string, advertise: string | undefined, boundPort: number): string {
  if (advertise) return advertise;
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return `${host === '0.0.0.0' || host === '::' ? hostname() : host}:${boundPort}`;
}

/** `address` with its port replaced (a node's side port on the same host). */
export function withPort(address: string, port: number): string {
  return `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
}
