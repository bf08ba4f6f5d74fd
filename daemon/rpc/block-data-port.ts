/**
 * HTTP/1.1 adapter for the block data port (lib/http/block-data.ts):
 * PUT and GET of block bodies, translated to BlockStore calls and nothing
 * more. TLS with client certificates when the cluster has TLS.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { BlockstoreError } from '../../lib/errors';
import { BLOCK_SIZE_HEADER, BLOCKS_PATH, ENCODING_HEADER } from '../../lib/http/block-data';
import { sendError } from '../../lib/http/errors';
import { intParam } from '../../lib/http/query';
import { MAX_BLOCK_BYTES } from '../../lib/limits';
import type { Logger } from '../../lib/logger';
import type { Metrics } from '../../lib/metrics';
import { parseHostPort } from '../../lib/units';
import { CLUSTER_AUTH_HEADER, verifyClusterSecret, type ClusterCredentials } from '../../lib/security/cluster-credentials';
import { BlockBufferPool } from '../../lib/rpc/framed';
import type { BlockStore } from '../blocks/block-store';

/**
 * Buffers block bodies are read into, used again once an answer is on the
 * socket: a fresh block-sized buffer per read is a page fault per 4 KiB and
 * garbage to collect.
 */
const readBuffers = new BlockBufferPool(0);

export interface BlockDataPortOptions {
  listen: string;
  store: Pick<BlockStore, 'put' | 'get'>;
  credentials: ClusterCredentials;
  logger: Logger;
  metrics?: Metrics;
}

export class BlockDataPort {
  private server: Server | undefined;
  private draining = false;
  port = 0;

  constructor(private readonly o: BlockDataPortOptions) {}

  /** @throws Error when the address cannot be bound. */
  async start(): Promise<number> {
    const { host, port } = parseHostPort(this.o.listen, '--data-listen');
    const tls = this.o.credentials.tls;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = tls
      ? createHttpsServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, handler)
      : createHttpServer(handler);
    // Idle keep-alive connections from gateways are kept for a minute.
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method === 'PUT' ? 'PutBlock' : req.method === 'GET' ? 'GetBlock' : 'other';
    let status = 'OK';
    try {
      if (this.draining) throw new BlockstoreError('SHUTTING_DOWN', 'the block daemon is shutting down');
      verifyClusterSecret(req.headers[CLUSTER_AUTH_HEADER], this.o.credentials);
      const url = new URL(req.url ?? '/', 'http://block-daemon');
      if (!url.pathname.startsWith(BLOCKS_PATH)) throw new BlockstoreError('NOT_FOUND', `no such path: ${url.pathname.slice(0, 100)}`);
      const hash = url.pathname.slice(BLOCKS_PATH.length);
      if (method === 'PutBlock') await this.put(hash, req, res);
      else if (method === 'GetBlock') await this.get(hash, url, res);
      else throw new BlockstoreError('INVALID_ARGUMENT', `method ${String(req.method).slice(0, 10)}: PUT or GET`);
    } catch (err) {
      const e = sendError(res, err, req.complete);
      if (e.code === 'INTERNAL') this.o.logger.error('block data port: internal error', { method, err: err as Error });
      status = e.code;
    } finally {
      this.o.metrics?.inc('blockstore_rpc_requests_total', { method, status });
      this.o.metrics?.observe('blockstore_rpc_latency_seconds', { method, status }, performance.now() - started);
    }
  }

  private async put(hash: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const encoding = req.headers[ENCODING_HEADER] ?? '';
    if (encoding !== '' && encoding !== 'br') throw new BlockstoreError('INVALID_ARGUMENT', `encoding: "" or "br", got ${JSON.stringify(String(encoding).slice(0, 40))}`);
    const declared = Number(req.headers['content-length']);
    if (req.headers['content-length'] === undefined || !Number.isSafeInteger(declared)) throw new BlockstoreError('INVALID_ARGUMENT', 'Content-Length: required (a block is sent whole)');
    if (declared > MAX_BLOCK_BYTES) throw new BlockstoreError('BLOCK_TOO_LARGE', `data: a block holds at most ${MAX_BLOCK_BYTES} bytes, got ${declared}`);
    // The pieces as the socket delivered them, kept as they are: they are
    // hashed one by one and reach the segment file in one writev, so a
    // block costs no joined copy (a fresh block-sized buffer is a page
    // fault per 4 KiB and garbage to collect).
    const pieces: Buffer[] = [];
    let at = 0;
    try {
      for await (const piece of req as AsyncIterable<Buffer>) {
        if (at + piece.length > declared) throw new BlockstoreError('INVALID_ARGUMENT', 'body longer than its Content-Length');
        pieces.push(piece);
        at += piece.length;
      }
    } catch (err) {
      if (err instanceof BlockstoreError) throw err;
      // The sender went away mid-body: nothing is stored.
      throw new BlockstoreError('CANCELLED', `the body was cut off after ${at} of ${declared} bytes; nothing stored`, { cause: err });
    }
    if (at !== declared) throw new BlockstoreError('INVALID_ARGUMENT', `body of ${at} bytes, Content-Length ${declared}`);
    const r = await this.o.store.put(hash, pieces, encoding === 'br' ? 'br' : '');
    const body = JSON.stringify({ alreadyPresent: r.alreadyPresent, size: r.size });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  }

  private async get(hash: string, url: URL, res: ServerResponse): Promise<void> {
    const r = await this.o.store.get(hash, intParam(url, 'offset'), intParam(url, 'length'), readBuffers);
    // 'finish': every byte of the answer is with the kernel. A connection
    // that ends first never gives the buffer back (the collector's).
    res.once('finish', r.release);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': r.data.length, [BLOCK_SIZE_HEADER]: r.blockSize }).end(r.data);
  }

  /** Refuses new requests (SHUTTING_DOWN), stops listening; calls in flight finish. */
  drain(): void {
    this.draining = true;
    this.server?.close();
    this.server?.closeIdleConnections();
  }

  close(): void {
    this.draining = true;
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
