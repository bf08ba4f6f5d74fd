/**
 * Block reads (GET) and writes (PUT) on a daemon's data port over plain
 * TCP. A block read has its bytes read by the kernel straight into the
 * buffer they are served from: `net.Socket`'s `onread` takes the next read's buffer from us, and
 * once an answer's headers are in, that is the rest of the block's own
 * buffer (with room in front for the gRPC frame, lib/rpc/framed.ts).
 *
 * Node's HTTP client allocates a fresh 64 KiB buffer for every socket read
 * and the body is then copied into one block-sized buffer; under GET 1 MiB
 * that garbage (external memory, sixteen buffers a block) made a gateway
 * run a full collection every ~100 ms. Here a block costs one buffer and
 * no copy, and a call no ClientRequest, agent or header objects. A block
 * write is its request head and the block's bytes in one corked write, and
 * a short JSON answer.
 *
 * The protocol is the data port's (lib/http/block-data.ts), which this
 * client's daemons answer with Content-Length on every answer; anything
 * else (chunked bodies, oversized headers, bytes nobody asked for) fails the
 * call with UNAVAILABLE and closes the connection. Connections are kept
 * alive and reused, one call at a time each, at most MAX_SOCKETS per daemon.
 * With TLS the gateway uses the HTTP client (BlockDataClient) instead.
 */
import { connect, type Socket } from 'node:net';
import { BlockstoreError } from '../errors';
import { blockBuffers } from '../rpc/framed';
import { BLOCK_SIZE_HEADER, BLOCKS_PATH, ENCODING_HEADER, errorFromAnswer } from './block-data';
import { ERROR_CODE_HEADER } from './errors';

/** Connections kept open to one daemon. */
const MAX_SOCKETS = 32;
/** An answer's status line and headers must fit in this. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Error answers are short JSON; a longer body is cut (its head is enough). */
const MAX_ERROR_BODY = 64 * 1024;

export interface BlockReadOpts {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** The request went out on a kept-alive connection the daemon had already closed. */
class StaleConnection extends Error {}

/** One keep-alive connection; one call at a time. */
class Conn {
  readonly socket: Socket;
  /** Reads land here until an answer's body has a buffer of its own. */
  private readonly scratch = Buffer.allocUnsafe(MAX_HEAD_BYTES);
  private head: Buffer | undefined;
  private body: Buffer | undefined;
  /** The buffer the next read goes into (what `onread.buffer` last handed out). */
  private given: Buffer = this.scratch;
  private at = 0;
  private status = 0;
  private headers = new Map<string, string>();
  private closeAfter = false;
  /** A block's answer (GET 200) goes into a pooled block buffer; any other answer into a buffer of its own. */
  private intoPool = false;
  private call: { resolve(a: Answer): void; reject(e: Error): void; reused: boolean; answered: boolean } | undefined;
  /** Calls this connection has carried. */
  uses = 0;
  dead = false;

  constructor(host: string, port: number, private readonly onIdle: (c: Conn) => void, private readonly onDead: (c: Conn) => void) {
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => (this.given = this.body && this.at < this.body.length ? this.body.subarray(this.at) : this.scratch),
        callback: (n: number, buf: Uint8Array) => {
          this.received(n, buf);
          return true;
        },
      },
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('the connection closed')));
    this.socket.on('end', () => this.socket.destroy());
  }

  /** Sends a request (its head, then `body` if any, in one corked write); resolves with the whole answer. */
  request(text: string, body: Uint8Array | undefined, intoPool: boolean): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.call = { resolve, reject, reused: this.uses > 0, answered: false };
      this.uses++;
      this.head = undefined;
      this.body = undefined;
      this.at = 0;
      this.headers = new Map();
      this.closeAfter = false;
      this.intoPool = intoPool;
      if (!body) {
        this.socket.write(text, 'latin1');
        return;
      }
      this.socket.cork();
      this.socket.write(text, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  private received(n: number, buf: Uint8Array): void {
    const call = this.call;
    if (!call) {
      this.destroy(new Error('bytes from the daemon with no request under way'));
      return;
    }
    call.answered = true;
    if (this.body && buf === this.given && buf !== this.scratch) {
      // Straight into the body.
      this.at += n;
    } else if (this.body) {
      this.destroy(new Error('answer bytes landed outside the body'));
      return;
    } else {
      const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
      this.head = this.head ? Buffer.concat([this.head, chunk]) : Buffer.from(chunk);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.head.length > MAX_HEAD_BYTES) this.destroy(new Error('answer headers too long'));
        return;
      }
      if (!this.parseHead(this.head.subarray(0, end).toString('latin1'))) return;
      const length = Number(this.headers.get('content-length'));
      this.body = this.status === 200 && this.intoPool ? blockBuffers.take(length) : Buffer.allocUnsafe(Math.min(length, MAX_ERROR_BODY));
      let rest = this.head.subarray(end + 4);
      if (rest.length > length) {
        // Bytes nobody asked for: the answer stands, the connection goes.
        rest = rest.subarray(0, length);
        this.closeAfter = true;
      }
      rest.copy(this.body, 0, 0, Math.min(rest.length, this.body.length));
      this.at = Math.min(rest.length, this.body.length);
      this.head = undefined;
      if ((this.status !== 200 || !this.intoPool) && length > MAX_ERROR_BODY) this.closeAfter = true;
    }
    if ((this.status !== 200 || !this.intoPool) && this.at >= this.body.length) {
      // An error answer or a short one, complete (or as much of it as is kept).
      this.finish({ status: this.status, headers: this.headers, body: this.body.subarray(0, this.at) });
      return;
    }
    if (this.at === this.body.length) this.finish({ status: this.status, headers: this.headers, body: this.body });
  }

  /** Status line and headers; false (and the connection closed) when they are not what the data port sends. */
  private parseHead(text: string): boolean {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) {
      this.destroy(new Error(`not an HTTP answer: ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`));
      return false;
    }
    this.status = Number(m[1]);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      this.headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(this.headers.get('content-length'));
    if (this.headers.has('transfer-encoding') || !this.headers.has('content-length') || !Number.isSafeInteger(length) || length < 0) {
      this.destroy(new Error('an answer without a Content-Length'));
      return false;
    }
    if ((this.headers.get('connection') ?? '').toLowerCase() === 'close') this.closeAfter = true;
    return true;
  }

  private finish(a: Answer): void {
    const call = this.call!;
    this.call = undefined;
    this.body = undefined;
    this.at = 0;
    if (this.closeAfter) this.destroy();
    else this.onIdle(this);
    call.resolve(a);
  }

  private fail(err: Error): void {
    const call = this.call;
    this.call = undefined;
    if (!this.dead) {
      this.dead = true;
      this.socket.destroy();
      this.onDead(this);
    }
    if (!call) return;
    const code = (err as NodeJS.ErrnoException).code;
    // A kept-alive connection the daemon closed as the request left: nothing was processed.
    if (call.reused && !call.answered && (code === 'ECONNRESET' || code === 'EPIPE' || err.message === 'the connection closed')) call.reject(new StaleConnection(err.message));
    else call.reject(err);
  }

  destroy(err?: Error): void {
    this.fail(err ?? new Error('closed'));
  }
}

export class BlockReader {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly waiting: Array<(c: Conn) => void> = [];
  private closed = false;
  private readonly fixedHeaders: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** For messages: the daemon's data address. */
    private readonly address: string,
    /** Sent with every request (the cluster secret). */
    authHeaders: Record<string, string>,
  ) {
    const hostHeader = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.fixedHeaders = `Host: ${hostHeader}\r\n${Object.entries(authHeaders).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  }

  /**
   * A block (or a range of it), in a buffer with room for a gRPC frame in front.
   * @throws BlockstoreError as the daemon sent it (BLOCK_NOT_FOUND, CORRUPT_BLOCK, …); UNAVAILABLE when it could not be reached or answered out of protocol.
   */
  async getBlock(hash: string, range: { offset?: number; length?: number } = {}, opts: BlockReadOpts = {}): Promise<{ data: Buffer; blockSize: number }> {
    const query = range.offset || range.length ? `?offset=${range.offset ?? 0}&length=${range.length ?? 0}` : '';
    const a = await this.call(`GET ${BLOCKS_PATH}${hash}${query} HTTP/1.1\r\n${this.fixedHeaders}`, undefined, true, opts);
    return { data: a.body, blockSize: Number(a.headers.get(BLOCK_SIZE_HEADER) ?? a.body.length) };
  }

  /**
   * Stores a block (`data` as sent: Brotli when `encoding` is 'br'). A
   * block is named by its hash, so sending it again (the retry on a closed
   * kept-alive connection) changes nothing.
   * @throws BlockstoreError as the daemon sent it (HASH_MISMATCH, CAPACITY_EXCEEDED, …); UNAVAILABLE when it could not be reached or answered out of protocol.
   */
  async putBlock(hash: string, data: Uint8Array, opts: BlockReadOpts & { encoding?: '' | 'br' } = {}): Promise<{ alreadyPresent: boolean; size: number }> {
    const encoding = opts.encoding ? `${ENCODING_HEADER}: ${opts.encoding}\r\n` : '';
    const text = `PUT ${BLOCKS_PATH}${hash} HTTP/1.1\r\ncontent-type: application/octet-stream\r\ncontent-length: ${data.length}\r\n${encoding}${this.fixedHeaders}`;
    const a = await this.call(text, data, false, opts);
    try {
      return JSON.parse(a.body.toString('utf8')) as { alreadyPresent: boolean; size: number };
    } catch {
      throw new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: an answer that is not the data port's`);
    }
  }

  /** One request, tried again once on a new connection when a kept-alive one turns out closed; a non-200 answer as its error. */
  private async call(text: string, body: Uint8Array | undefined, intoPool: boolean, opts: BlockReadOpts): Promise<Answer> {
    let a: Answer;
    try {
      a = await this.once(text, body, intoPool, opts, false);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
      // Once more, on a new connection (the other idle ones may be closed too).
      a = await this.once(text, body, intoPool, opts, true).catch((e: unknown) => {
        throw e instanceof StaleConnection ? new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: ${e.message}`, { cause: e }) : e;
      });
    }
    if (a.status !== 200) throw errorFromAnswer(a.status, a.headers.get(ERROR_CODE_HEADER), a.body.toString('utf8'));
    return a;
  }

  private async once(text: string, body: Uint8Array | undefined, intoPool: boolean, opts: BlockReadOpts, fresh: boolean): Promise<Answer> {
    if (opts.signal?.aborted) throw new BlockstoreError('CANCELLED', 'the call was cancelled');
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let conn: Conn | undefined;
    const stop = new Promise<never>((_, reject) => {
      // The call's own error first, then the connection goes (its failure would otherwise win the race).
      timer = setTimeout(() => {
        reject(new BlockstoreError('DEADLINE_EXCEEDED', `block daemon ${this.address}: no answer in ${timeoutMs} ms`));
        conn?.destroy();
      }, timeoutMs);
      onAbort = () => {
        reject(new BlockstoreError('CANCELLED', 'the call was cancelled'));
        conn?.destroy();
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    stop.catch(() => undefined);
    const taking = this.take(fresh);
    try {
      conn = await Promise.race([taking, stop]);
      return await Promise.race([conn.request(text, body, intoPool), stop]);
    } catch (err) {
      // Gave up while waiting for a connection: it goes back when it comes.
      if (!conn) void taking.then((c) => this.release(c), () => undefined);
      if (err instanceof BlockstoreError || err instanceof StaleConnection) throw err;
      throw new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** An idle connection, a new one, or the next to come free; `fresh`: a new one regardless. */
  private take(fresh = false): Promise<Conn> {
    if (this.closed) return Promise.reject(new BlockstoreError('UNAVAILABLE', `block daemon ${this.address}: client closed`));
    const idle = fresh ? undefined : this.idle.pop();
    if (idle) return Promise.resolve(idle);
    if (fresh || this.all.size < MAX_SOCKETS) return Promise.resolve(this.open());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private open(): Conn {
    const c = new Conn(this.host, this.port, (x) => this.release(x), (x) => this.forget(x));
    this.all.add(c);
    return c;
  }

  private release(c: Conn): void {
    const next = this.waiting.shift();
    if (next) next(c);
    else if (this.closed) c.destroy();
    else this.idle.push(c);
  }

  private forget(c: Conn): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A caller waiting for a connection gets a new one in its place.
    const next = this.waiting.shift();
    if (next && !this.closed) next(this.open());
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.all]) c.destroy();
  }
}
