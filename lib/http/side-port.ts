/**
 * A small HTTP/1.1 side port: GET /healthz (200 while SERVING, 503 when
 * draining — what HAProxy's `option httpchk` follows) and GET /metrics
 * (Prometheus text). Balancers cannot send a gRPC health call as an HTTP
 * check body (HAProxy's http-check refuses NUL bytes), so this mirrors
 * grpc.health.v1.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CLUSTER_AUTH_HEADER, clusterCredentials, verifyClusterHeader, type ClusterCredentials } from '../security/cluster-credentials';

export interface SidePortOptions {
  listen: string;
  /** Whose secret the fault hook demands (default: the process's). */
  credentials?: ClusterCredentials;
  healthy: () => boolean;
  /**
   * Status /healthz answers while not healthy (default 503). Gateways answer
   * 404 while draining: HAProxy's \`http-check disable-on-404\` then stops
   * sending new calls but lets calls in flight finish, where a failed check
   * (DOWN) shuts the gateway's sessions down.
   */
  unhealthyStatus?: number;
  metrics: () => string | Promise<string>;
  /** POST /fault/unavailable?ms=N: fail every call for N ms (fault drills; needs the cluster secret header). */
  fault?: (ms: number) => void;
  /** More routes (the gateway's web console): true when it answered the request. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export class SidePort {
  private server: Server | undefined;
  port = 0;

  constructor(private readonly o: SidePortOptions) {}

  /** @throws Error when the address cannot be bound. */
  async start(): Promise<number> {
    const i = this.o.listen.lastIndexOf(':');
    const host = this.o.listen.slice(0, i);
    const port = Number(this.o.listen.slice(i + 1));
    this.server = createServer((req, res) => {
      if (this.o.routes?.(req, res)) return;
      if (req.url === '/healthz') {
        const ok = this.o.healthy();
        res.writeHead(ok ? 200 : (this.o.unhealthyStatus ?? 503), { 'content-type': 'text/plain' }).end(ok ? 'SERVING\n' : 'NOT_SERVING\n');
      } else if (req.method === 'POST' && req.url?.startsWith('/fault/unavailable') && this.o.fault) {
        if (!verifyClusterHeader(req.headers[CLUSTER_AUTH_HEADER], this.o.credentials ?? clusterCredentials())) {
          res.writeHead(403).end(`fault hooks need the cluster secret in ${CLUSTER_AUTH_HEADER}\n`);
          return;
        }
        const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? '10000');
        if (!Number.isFinite(ms) || ms < 0 || ms > 600_000) {
          res.writeHead(400).end('ms: 0 to 600000\n');
          return;
        }
        this.o.fault(ms);
        res.writeHead(200).end(`failing for ${ms} ms\n`);
      } else if (req.url === '/metrics') {
        void Promise.resolve()
          .then(() => this.o.metrics())
          .then(
            (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
            (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`),
          );
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  close(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
