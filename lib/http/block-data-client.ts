/**
 * Client of a block daemon's data port (lib/http/block-data.ts): PUT and GET
 * of block bodies over pooled keep-alive HTTP/1.1 connections, with the
 * caller's cluster credentials (client certificate, cluster secret).
 * Mirrors BlockdClient's putBlock/getBlock and their errors. Over plain TCP
 * the calls go through BlockReader (lib/http/block-reader.ts); with TLS,
 * through Node's HTTPS client.
 */
import type { IncomingMessage, RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { BlockstoreError } from '../errors';
import { parseHostPort } from '../units';
import { clusterAuthHeaders, type ClusterCredentials } from '../security/cluster-credentials';
import { BLOCK_SIZE_HEADER, BLOCKS_PATH, ENCODING_HEADER, errorFromAnswer } from './block-data';
import { ERROR_CODE_HEADER } from './errors';
import { allocWithHeadroom } from '../rpc/framed';
import { BlockReader } from './block-reader';

/** The request went out on a kept-alive connection the daemon had already closed. */
class StaleConnection extends Error {}

export interface DataCallOpts {
  /** Milliseconds for the whole call; default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Connections kept open to one daemon (a gateway sends at most a few blocks to each at once). */
const MAX_SOCKETS = 32;

export class BlockDataClient {
  private readonly host: string;
  private readonly port: number;
  private readonly auth: Record<string, string>;
  /** Plain TCP: every call; with TLS, the HTTPS client's agent instead. */
  private readonly reader: BlockReader | undefined;
  private readonly agent: HttpsAgent | undefined;

  constructor(readonly address: string, credentials: ClusterCredentials) {
    ({ host: this.host, port: this.port } = parseHostPort(address, 'data address'));
    this.host = this.host.replace(/^\[(.*)\]$/, '$1');
    this.auth = clusterAuthHeaders(credentials);
    const t = credentials.tls;
    if (t) this.agent = new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, ca: t.ca, cert: t.cert, key: t.key, servername: isIP(this.host) ? '' : this.host });
    else this.reader = new BlockReader(this.host, this.port, address, this.auth);
  }

  /**
   * Stores a block (`data` as sent: Brotli when `encoding` is 'br').
   * @throws BlockstoreError as the daemon sent it (HASH_MISMATCH, CAPACITY_EXCEEDED, …); UNAVAILABLE when it could not be reached.
   */
  async putBlock(hash: string, data: Uint8Array, opts: DataCallOpts & { encoding?: '' | 'br' } = {}): Promise<{ alreadyPresent: boolean; size: number }> {
    if (this.reader) return this.reader.putBlock(hash, data, opts);
    const headers: Record<string, string | number> = { ...this.auth, 'content-type': 'application/octet-stream', 'content-length': data.length };
    if (opts.encoding) headers[ENCODING_HEADER] = opts.encoding;
    const { body } = await this.call('PUT', `${BLOCKS_PATH}${hash}`, headers, data, opts);
    return JSON.parse(body.toString('utf8')) as { alreadyPresent: boolean; size: number };
  }

  /** @throws BlockstoreError BLOCK_NOT_FOUND, CORRUPT_BLOCK, …; UNAVAILABLE when it could not be reached. */
  async getBlock(hash: string, range: { offset?: number; length?: number } = {}, opts: DataCallOpts = {}): Promise<{ data: Buffer; blockSize: number }> {
    if (this.reader) return this.reader.getBlock(hash, range, opts);
    const query = range.offset || range.length ? `?offset=${range.offset ?? 0}&length=${range.length ?? 0}` : '';
    const { body, res } = await this.call('GET', `${BLOCKS_PATH}${hash}${query}`, { ...this.auth }, undefined, opts);
    return { data: body, blockSize: Number(res.headers[BLOCK_SIZE_HEADER] ?? body.length) };
  }

  private async call(method: string, path: string, headers: Record<string, string | number>, payload: Uint8Array | undefined, opts: DataCallOpts): Promise<{ body: Buffer; res: IncomingMessage }> {
    try {
      return await this.once(method, path, headers, payload, opts);
    } catch (err) {
      // A kept-alive connection the daemon closed as the request left (its
      // idle timeout, a restart): nothing was processed; one more try on a fresh one.
      if (err instanceof StaleConnection) return this.once(method, path, headers, payload, opts);
      throw err;
    }
  }

  private once(method: string, path: string, headers: Record<string, string | number>, payload: Uint8Array | undefined, opts: DataCallOpts): Promise<{ body: Buffer; res: IncomingMessage }> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new BlockstoreError('CANCELLED', 'the call was cancelled'));
        return;
      }
      const options: RequestOptions = { host: this.host, port: this.port, method, path, headers, agent: this.agent };
      const req = httpsRequest(options);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        req.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new BlockstoreError('DEADLINE_EXCEEDED', `block daemon ${this.address}: no answer in ${opts.timeoutMs ?? 30_000} ms`)), opts.timeoutMs ?? 30_000);
      const onAbort = () => fail(new BlockstoreError('CANCELLED', 'the call was cancelled'));
      const cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let answered = false;
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (req.reusedSocket && !answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) fail(new StaleConnection(err.message));
        else fail(new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: ${err.message}`, { cause: err }));
      });
      req.on('response', (res) => {
        answered = true;
        const declared = Number(res.headers['content-length']);
        // One buffer of the announced size when there is one: no list of pieces
        // to join. A block read keeps room in front for the gRPC frame a
        // gateway sends it on in (lib/rpc/framed.ts): no further copy.
        const block = method === 'GET' && res.statusCode === 200;
        const whole = Number.isSafeInteger(declared) && declared >= 0 ? (block ? allocWithHeadroom(declared) : Buffer.allocUnsafe(declared)) : undefined;
        const pieces: Buffer[] = [];
        let at = 0;
        res.on('data', (d: Buffer) => {
          if (whole) {
            if (at + d.length <= whole.length) d.copy(whole, at);
          } else pieces.push(d);
          at += d.length;
        });
        res.on('error', (err) => fail(new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: ${err.message}`, { cause: err })));
        res.on('close', () => {
          if (!res.complete) fail(new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: the connection closed mid-answer`));
        });
        res.on('end', () => {
          if (settled) return;
          if (whole && at !== whole.length) {
            fail(new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: answer of ${at} bytes, ${whole.length} announced`));
            return;
          }
          const body = whole ?? Buffer.concat(pieces);
          settled = true;
          cleanup();
          if (res.statusCode === 200) resolve({ body, res });
          else reject(errorFromAnswer(res.statusCode ?? 0, res.headers[ERROR_CODE_HEADER], body.toString('utf8')));
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.reader?.close();
    this.agent?.destroy();
  }
}
