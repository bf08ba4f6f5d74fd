/**
 * grpc.health.v1 for every server. The empty service name stands for the
 * whole server; balancers (HAProxy, Envoy) probe it, and a draining server
 * flips it to NOT_SERVING before it stops taking calls.
 */
import * as grpc from '@grpc/grpc-js';
import type { HealthHandlers } from '../../proto/gen/ts/grpc/health/v1/Health';
import type { HealthCheckResponse } from '../../proto/gen/ts/grpc/health/v1/HealthCheckResponse';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<{ service: string; send: (s: ServingStatus | 'SERVICE_UNKNOWN') => void }>();

  constructor(services: string[]) {
    this.statuses.set('', 'SERVING');
    for (const s of services) this.statuses.set(s, 'SERVING');
  }

  /** Sets every service (and the server as a whole) to `status`. */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.set(service, status);
  }

  set(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const w of this.watchers) if (w.service === service) w.send(status);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  handlers(): HealthHandlers {
    return {
      Check: (call, callback) => {
        const status = this.statuses.get(call.request.service);
        if (!status) {
          callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
          return;
        }
        callback(null, { status });
      },
      Watch: (call) => {
        const service = call.request.service;
        const send = (status: ServingStatus | 'SERVICE_UNKNOWN') => {
          const msg: HealthCheckResponse = { status };
          call.write(msg);
        };
        const watcher = { service, send };
        this.watchers.add(watcher);
        send(this.statuses.get(service) ?? 'SERVICE_UNKNOWN');
        const stop = () => this.watchers.delete(watcher);
        call.on('cancelled', stop);
        call.on('close', stop);
        call.on('error', stop);
      },
    };
  }

  /** Ends every open Watch stream (server shutdown). */
  closeWatchers(): void {
    this.watchers.clear();
  }
}
