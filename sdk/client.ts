/**
 * The TypeScript SDK for blockstore.v1: upload and download (Buffer, path or
 * stream), stat, list, delete, move, versions, restore, watch, usage, and
 * delta sync (chunk locally, send only missing blocks, commit).
 *
 * - One address (the balancer) or several gateways balanced here
 *   (round_robin).
 * - Writes carry idempotency keys, so retrying them is safe: every call is
 *   retried on the errors whose `retryable` is set (lib/retry.ts: jittered
 *   backoff, RATE_LIMITED's hint honoured, the call's timeout as budget) —
 *   one layer of retries, no channel retry policy underneath.
 * - Read-your-writes: the client remembers the highest position its writes
 *   returned and sends it with every read.
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Chunker } from '../lib/chunking/fastcdc';
import { BlockstoreError, hasCode } from '../lib/errors';
import { sha256Hex } from '../lib/hash';
import { withRetry } from '../lib/retry';
import { CHANNEL_OPTIONS } from '../lib/rpc/client';
import { loadProtos } from '../lib/rpc/proto';
import { fromServiceError } from '../lib/rpc/status';
import { resolveConnection } from './connection';
import type { FilesClient } from '../proto/gen/ts/blockstore/v1/Files';
import type { AdminClient } from '../proto/gen/ts/blockstore/v1/Admin';
import type { FileInfo__Output } from '../proto/gen/ts/blockstore/v1/FileInfo';
import type { WatchEvent__Output } from '../proto/gen/ts/blockstore/v1/WatchEvent';
import type { ClusterStatus__Output } from '../proto/gen/ts/blockstore/v1/ClusterStatus';
import type { ListUsersResponse__Output } from '../proto/gen/ts/blockstore/v1/ListUsersResponse';
import type { User__Output } from '../proto/gen/ts/blockstore/v1/User';
import type { GetFileResponse__Output } from '../proto/gen/ts/blockstore/v1/GetFileResponse';

export type FileInfo = FileInfo__Output;

/** Reads: a version (0: the current one), a byte range, and the call options. */
export interface ReadOptions extends CallOptions {
  version?: number;
  offset?: number;
  length?: number;
  /** Called as bytes arrive: received so far, and how many this read returns in all. */
  onProgress?: (received: number, total: number) => void;
}

const cancelled = () => new BlockstoreError('CANCELLED', 'the call was cancelled (its AbortSignal fired)');
export type WatchEvent = WatchEvent__Output;

export interface ClientOptions {
  /** "host:port" of the balancer, or several gateway addresses. */
  address: string | string[];
  token: string;
  /** Per-call deadline (ms); uploads and downloads get it per MiB as well. */
  timeoutMs?: number;
  /**
   * Most attempts per call, the first included (default 20), within the
   * call's timeout. Many, because they are cheap and each may reach another
   * gateway: behind a balancer that round-robins, a call keeps landing on a
   * gateway that fails every call (SIGSTOP drill: half of them) with
   * probability 1/2 per attempt.
   */
  retries?: number;
  /** PEM CA file for TLS (when the cluster runs TLS). */
  ca?: Buffer;
  /** PEM client certificate and its key, for a balancer that requires mutual TLS (with `ca`). */
  cert?: Buffer;
  key?: Buffer;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborting it cancels the call (and its retries) at once: it rejects with CANCELLED. */
  signal?: AbortSignal;
}

export interface PutOptions extends CallOptions {
  expectedVersion?: number;
  idempotencyKey?: string;
  /** Called with bytes sent so far. */
  onProgress?: (sent: number) => void;
}

export interface SyncResult {
  file: FileInfo;
  position: number;
  blocks: number;
  blocksSent: number;
  bytesSent: number;
}

const PIECE = 1024 * 1024;

export class BlockstoreClient {
  readonly files: FilesClient;
  /**
   * Uploads (PutFile, PutBlocks) travel on a connection of their own: an
   * upload stuck on a frozen gateway holds HTTP/2 flow-control credit on
   * its connection, and a balancer that multiplexes it (HAProxy 2.6's h2
   * demux) then stalls every call sharing that connection until the gateway
   * is marked down. Reads, stats and lists keep flowing on the other one.
   */
  private readonly uploads: FilesClient;
  readonly admin: AdminClient;
  private position = 0;
  private readonly timeoutMs: number;
  private readonly retries: number;

  /**
   * A client for the cluster the environment names, as the CLI finds it
   * (sdk/connection.ts): BLOCKSTORE_PROFILE, BLOCKSTORE_ADDRESS,
   * BLOCKSTORE_TOKEN or BLOCKSTORE_TOKEN_FILE, BLOCKSTORE_CA_FILE, then the
   * credentials file. `options` win over all of them.
   * @throws BlockstoreError INVALID_ARGUMENT when no address or token is found
   */
  static fromEnv(options: Partial<ClientOptions> & { profile?: string } = {}): BlockstoreClient {
    const { profile, ...rest } = options;
    const given = { address: Array.isArray(rest.address) ? rest.address.join(',') : rest.address, token: rest.token };
    const c = resolveConnection(given, { profile });
    return new BlockstoreClient({ ...rest, ...c, ...(rest.ca ? { ca: rest.ca } : {}), ...(rest.cert ? { cert: rest.cert, key: rest.key } : {}) });
  }

  constructor(private readonly options: ClientOptions) {
    const { protos } = loadProtos();
    const addresses = Array.isArray(options.address) ? options.address : [options.address];
    const target = addresses.length > 1 ? `ipv4:${addresses.join(',')}` : addresses[0]!;
    const serviceConfig = {
      loadBalancingConfig: [{ round_robin: {} }],
    };
    if ((options.cert === undefined) !== (options.key === undefined)) throw new BlockstoreError('INVALID_ARGUMENT', 'a client certificate needs its key, and a key its certificate');
    if (options.cert && !options.ca) throw new BlockstoreError('INVALID_ARGUMENT', 'a client certificate is for TLS: give the CA too');
    const creds = options.ca ? grpc.credentials.createSsl(options.ca, options.key ?? null, options.cert ?? null) : grpc.credentials.createInsecure();
    const channelOptions = { ...CHANNEL_OPTIONS, 'grpc.service_config': JSON.stringify(serviceConfig), 'grpc.enable_retries': 1 };
    this.files = new protos.blockstore.v1.Files(target, creds, channelOptions);
    this.uploads = new protos.blockstore.v1.Files(target, creds, { ...channelOptions, 'grpc.use_local_subchannel_pool': 1 });
    this.admin = new protos.blockstore.v1.Admin(target, creds, channelOptions);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 20;
  }

  private md(): grpc.Metadata {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${this.options.token}`);
    return m;
  }

  private seen(position: number | undefined): void {
    if (position && position > this.position) this.position = position;
  }

  /**
   * Runs `fn` under the retry policy (calls are idempotent): errors marked
   * retryable, RATE_LIMITED after the server's hint, within the timeout.
   */
  private retry<T>(fn: () => Promise<T>, budgetMs = this.timeoutMs, signal?: AbortSignal): Promise<T> {
    // CANCELLED is not retryable: an aborted call ends with its first attempt after the abort.
    return withRetry({ attempts: this.retries, baseDelayMs: 50, maxDelayMs: 1000, budgetMs }, () => {
      if (signal?.aborted) throw cancelled();
      return fn();
    });
  }

  private unary<Req, Res>(client: grpc.Client, method: string, req: Req, timeoutMs = this.timeoutMs, signal?: AbortSignal): Promise<Res> {
    return this.retry(
      () =>
        new Promise<Res>((resolve, reject) => {
          const fn = (client as unknown as Record<string, Function>)[method]!;
          const call = fn.call(client, req, this.md(), { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) => {
            signal?.removeEventListener('abort', onAbort);
            if (err) reject(fromServiceError(err));
            else resolve(res);
          }) as grpc.ClientUnaryCall;
          const onAbort = () => call.cancel();
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
      timeoutMs,
      signal,
    );
  }

  /**
   * Uploads a file (PutFile) from a Buffer, a local path or a stream. A
   * stream cannot be replayed, so a stream upload is tried once.
   * @throws BlockstoreError (VERSION_CONFLICT, QUOTA_EXCEEDED, …).
   */
  async put(path: string, source: Buffer | string | Readable, opts: PutOptions = {}): Promise<{ file: FileInfo; position: number; bytesStored: number; replayed: boolean }> {
    const key = opts.idempotencyKey ?? randomUUID();
    const attempt = async (src: AsyncIterable<Buffer>) =>
      new Promise<{ file: FileInfo; position: number; bytesStored: number; replayed: boolean }>((resolve, reject) => {
        const call = this.uploads.putFile(this.md(), { deadline: Date.now() + this.timeoutMs * 20 }, (err, res) => {
          opts.signal?.removeEventListener('abort', onAbort);
          if (err) reject(fromServiceError(err));
          else resolve({ file: res!.file!, position: res!.position, bytesStored: res!.bytesStored, replayed: res!.replayed });
        });
        // Cancelled before the last byte, nothing is committed.
        const onAbort = () => call.cancel();
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        void (async () => {
          call.write({ header: { path, idempotencyKey: key, ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}) } });
          let sent = 0;
          for await (const piece of src) {
            if (opts.signal?.aborted) return;
            for (let i = 0; i < piece.length; i += PIECE) {
              const part = piece.subarray(i, i + PIECE);
              if (!call.write({ data: part })) await new Promise((r) => call.once('drain', r));
              sent += part.length;
              opts.onProgress?.(sent);
            }
          }
          call.end();
        })().catch((err: unknown) => {
          call.cancel();
          reject(err);
        });
      });
    let r;
    if (Buffer.isBuffer(source)) {
      r = await this.retry(() => attempt((async function* () { yield source; })()), this.timeoutMs * 20, opts.signal);
    } else if (typeof source === 'string') {
      r = await this.retry(() => attempt(createReadStream(source, { highWaterMark: PIECE }) as AsyncIterable<Buffer>), this.timeoutMs * 20, opts.signal);
    } else {
      if (opts.signal?.aborted) throw cancelled();
      r = await attempt(source as AsyncIterable<Buffer>);
    }
    this.seen(r.position);
    return r;
  }

  /** Streams a file's bytes (GetFile): the info first, then the data. */
  async download(path: string, opts: ReadOptions = {}): Promise<{ info: FileInfo; data: AsyncGenerator<Buffer> }> {
    if (opts.signal?.aborted) throw cancelled();
    const call = this.files.getFile(
      { path, version: opts.version ?? 0, offset: opts.offset ?? 0, length: opts.length ?? 0, minPosition: this.position },
      this.md(),
      { deadline: Date.now() + this.timeoutMs * 20 },
    );
    const signal = opts.signal;
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    const it = (call as AsyncIterable<GetFileResponse__Output>)[Symbol.asyncIterator]();
    let first: IteratorResult<GetFileResponse__Output>;
    try {
      first = await it.next();
    } catch (err) {
      signal?.removeEventListener('abort', onAbort);
      throw fromServiceError(err as grpc.ServiceError);
    }
    if (first.done || !first.value.info) throw new BlockstoreError('INTERNAL', 'GetFile sent no file info');
    const info = first.value.info;
    const onProgress = opts.onProgress;
    const offset = opts.offset ?? 0;
    const rest = Math.max(0, Number(info.size) - offset);
    const total = opts.length ? Math.min(opts.length, rest) : rest;
    async function* data(): AsyncGenerator<Buffer> {
      let received = 0;
      try {
        for (;;) {
          const n = await it.next();
          if (n.done) return;
          if (!n.value.data) continue;
          received += n.value.data.length;
          onProgress?.(received, total);
          yield n.value.data;
        }
      } catch (err) {
        throw fromServiceError(err as grpc.ServiceError);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    }
    return { info, data: data() };
  }

  /** As download, the bytes as a Node Readable (for pipe and stream.pipeline). */
  async downloadStream(path: string, opts: ReadOptions = {}): Promise<{ info: FileInfo; stream: Readable }> {
    const { info, data } = await this.download(path, opts);
    return { info, stream: Readable.from(data, { objectMode: false }) };
  }

  /** The whole file (or a range) as a Buffer, retried on UNAVAILABLE. */
  async get(path: string, opts: ReadOptions = {}): Promise<Buffer> {
    return this.retry(async () => {
      const { data } = await this.download(path, opts);
      const parts: Buffer[] = [];
      for await (const p of data) parts.push(p);
      return Buffer.concat(parts);
    }, this.timeoutMs * 20, opts.signal);
  }

  /**
   * Downloads to a local path. A transfer that breaks off on a retryable
   * error resumes where it stopped (a range read of the same version), so a
   * long download survives a gateway that dies under it without starting over.
   */
  async getToPath(path: string, localPath: string, opts: { version?: number; onProgress?: (n: number, total: number) => void } & CallOptions = {}): Promise<FileInfo> {
    const out = await open(localPath, 'w');
    let info: FileInfo | undefined;
    let written = 0;
    try {
      await this.retry(async () => {
        // After the first answer: the version it named, from the first byte not yet written.
        const r = await this.download(path, { signal: opts.signal, version: info ? Number(info.version) : opts.version, offset: written });
        info ??= r.info;
        for await (const piece of r.data) {
          await out.write(piece, 0, piece.length, written);
          written += piece.length;
          opts.onProgress?.(written, Number(info.size));
        }
      }, this.timeoutMs * 20, opts.signal);
      await out.sync();
    } finally {
      await out.close();
    }
    return info!;
  }

  async stat(path: string, version = 0, opts: CallOptions = {}): Promise<FileInfo> {
    return this.unary(this.files, 'statFile', { path, version, minPosition: this.position }, this.timeoutMs, opts.signal);
  }

  /** Every file under a prefix, fetched a page at a time. */
  async *list(prefix = '', pageSize = 100, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    let token = '';
    do {
      const r = await this.unary<object, { files: FileInfo[]; nextPageToken: string }>(this.files, 'listFiles', { prefix, pageSize, pageToken: token, minPosition: this.position }, this.timeoutMs, opts.signal);
      yield* r.files;
      token = r.nextPageToken;
    } while (token);
  }

  private async write(method: string, req: object, opts: CallOptions): Promise<{ file: FileInfo; position: number; replayed: boolean }> {
    const r = await this.unary<object, { file: FileInfo; position: number; replayed: boolean }>(this.files, method, { idempotencyKey: randomUUID(), ...req }, this.timeoutMs, opts.signal);
    this.seen(r.position);
    return r;
  }

  delete(path: string, expectedVersion?: number, opts: CallOptions = {}) {
    return this.write('deleteFile', { path, ...(expectedVersion !== undefined ? { expectedVersion } : {}) }, opts);
  }

  move(from: string, to: string, opts: CallOptions = {}) {
    return this.write('moveFile', { fromPath: from, toPath: to }, opts);
  }

  restore(path: string, version: number, expectedVersion?: number, opts: CallOptions = {}) {
    return this.write('restoreVersion', { path, version, ...(expectedVersion !== undefined ? { expectedVersion } : {}) }, opts);
  }

  async versions(path: string, opts: CallOptions = {}): Promise<FileInfo[]> {
    return (await this.unary<object, { versions: FileInfo[] }>(this.files, 'listVersions', { path, minPosition: this.position }, this.timeoutMs, opts.signal)).versions;
  }

  usage(opts: CallOptions = {}): Promise<{ bytesUsed: number; quotaBytes: number }> {
    return this.unary(this.files, 'getUsage', {}, this.timeoutMs, opts.signal);
  }

  /**
   * Delta sync: chunks the file locally (the gateway's chunker), asks which
   * blocks the service lacks, uploads only those, and commits the version.
   * A local path is read twice as a stream (once to name its blocks, once
   * to send the missing ones), so memory stays bounded by a block whatever
   * the file's size; the file must not change in between (a block whose
   * bytes no longer match its name is refused, and nothing is committed).
   */
  async sync(path: string, source: Buffer | string, opts: { expectedVersion?: number; idempotencyKey?: string } & CallOptions = {}): Promise<SyncResult> {
    const blocksOf = async function* (): AsyncGenerator<Buffer> {
      const chunker = new Chunker();
      const input = typeof source === 'string' ? (createReadStream(source, { highWaterMark: PIECE }) as AsyncIterable<Buffer>) : [source];
      for await (const piece of input) yield* chunker.push(piece);
      yield* chunker.finish();
    };
    const blocks: Array<{ hash: string; size: number }> = [];
    const whole = createHash('sha256');
    for await (const c of blocksOf()) {
      whole.update(c);
      blocks.push({ hash: sha256Hex(c), size: c.length });
    }
    const contentHash = whole.digest('hex');
    const distinct = [...new Set(blocks.map((b) => b.hash))].map((h) => [h] as const);
    const key = opts.idempotencyKey ?? randomUUID();
    let blocksSent = 0;
    let bytesSent = 0;
    // A block found in the namespace may lose its last reference to version
    // pruning before the commit (MISSING_BLOCKS): then ask again and send it.
    for (let attempt = 1; ; attempt++) {
      const missing = new Set<string>();
      for (let i = 0; i < distinct.length; i += 10_000) {
        const r = await this.unary<object, { missing: string[] }>(this.files, 'findMissingBlocks', { hashes: distinct.slice(i, i + 10_000).map(([h]) => h) }, this.timeoutMs, opts.signal);
        r.missing.forEach((h) => missing.add(h));
      }
      if (missing.size) {
        // Each missing block once, read again from the source as it streams by.
        const sent = await this.retry(
          () =>
            new Promise<{ blocks: number; bytes: number }>((resolve, reject) => {
              const count = { blocks: 0, bytes: 0 };
              const call = this.uploads.putBlocks(this.md(), { deadline: Date.now() + this.timeoutMs * 20 }, (err) => {
                opts.signal?.removeEventListener('abort', onAbort);
                if (err) reject(fromServiceError(err));
                else resolve(count);
              });
              const onAbort = () => call.cancel();
              opts.signal?.addEventListener('abort', onAbort, { once: true });
              void (async () => {
                const pending = new Set(missing);
                for await (const data of blocksOf()) {
                  const hash = sha256Hex(data);
                  if (!pending.delete(hash)) continue;
                  if (!call.write({ hash, data })) await new Promise((r) => call.once('drain', r));
                  count.blocks++;
                  count.bytes += data.length;
                }
                call.end();
              })().catch((err: unknown) => {
                call.cancel();
                reject(err);
              });
            }),
          this.timeoutMs * 20,
          opts.signal,
        );
        blocksSent += sent.blocks;
        bytesSent += sent.bytes;
      }
      try {
        const r = await this.write('commitFile', {
          path, blocks, contentHash, idempotencyKey: key,
          ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
        }, opts);
        return { file: r.file, position: r.position, blocks: blocks.length, blocksSent, bytesSent };
      } catch (err) {
        if (attempt >= 3 || !hasCode(err, 'MISSING_BLOCKS')) throw err;
      }
    }
  }

  /**
   * Change events under a prefix; resumes from its cursor after a
   * disconnect, so no event is skipped or repeated. Ends when `signal` aborts.
   */
  async *watch(prefix = '', cursor = 0, signal?: AbortSignal): AsyncGenerator<WatchEvent> {
    let at = cursor;
    while (!signal?.aborted) {
      const call = this.files.watch({ prefix, cursor: at }, this.md());
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const ev of call as AsyncIterable<WatchEvent>) {
          at = ev.cursor;
          yield ev;
        }
      } catch (err) {
        if (signal?.aborted) return;
        const e = fromServiceError(err as grpc.ServiceError);
        if (!hasCode(e, 'UNAVAILABLE', 'CANCELLED', 'INTERNAL')) throw e;
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    }
  }

  /** The highest position this client's writes returned (its read-your-writes token). */
  get lastPosition(): number {
    return this.position;
  }

  /**
   * Makes this client's reads from now on reflect at least `position`: a
   * token another client's write returned (`put(...).position`,
   * `lastPosition`), so a reader sees a writer's writes through any gateway.
   */
  observePosition(position: number): void {
    this.seen(position);
  }

  // ---- Admin (admin tokens only)

  clusterStatus(): Promise<ClusterStatus__Output> {
    return this.unary(this.admin, 'getClusterStatus', {});
  }

  createUser(userId: string, name: string, quotaBytes: number): Promise<{ id: string; quotaBytes: number }> {
    return this.unary(this.admin, 'createUser', { userId, name, quotaBytes });
  }

  /** Every user, in id order, fetched a page at a time. */
  async *listUsers(pageSize = 100, opts: CallOptions = {}): AsyncGenerator<User__Output> {
    let pageToken = '';
    do {
      const r = await this.unary<object, ListUsersResponse__Output>(this.admin, 'listUsers', { pageSize, pageToken }, this.timeoutMs, opts.signal);
      yield* r.users;
      pageToken = r.nextPageToken;
    } while (pageToken);
  }

  /** `ttlSeconds` > 0: the token stops working that long after it is issued. */
  issueToken(userId: string, scope: 'user' | 'admin' = 'user', ttlSeconds = 0): Promise<{ tokenId: string; token: string; expiresAt: string }> {
    return this.unary(this.admin, 'issueToken', { userId, scope, ttlSeconds });
  }

  revokeToken(tokenId: string): Promise<object> {
    return this.unary(this.admin, 'revokeToken', { tokenId });
  }

  /** Drains a gateway (no new calls) or a block daemon (its blocks move away, no new ones). */
  drainNode(nodeId: string): Promise<{ accepted: boolean }> {
    return this.unary(this.admin, 'drainNode', { nodeId });
  }

  close(): void {
    this.files.close();
    this.uploads.close();
    this.admin.close();
  }
}
