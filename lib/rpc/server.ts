/**
 * The gRPC server every blockstore process runs: its own services plus
 * grpc.health.v1 and server reflection, raised message limits, one status
 * table for error mapping, and a drain that flips health to NOT_SERVING,
 * waits for in-flight calls and stops.
 */
import * as grpc from '@grpc/grpc-js';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Logger } from '../logger';
import { DescriptorIndex } from './descriptor-index';
import { HealthState } from './health';
import { MAX_MESSAGE_BYTES } from '../limits';
import { loadProtos } from './proto';
import { reflectionHandler } from './reflection';
import { toServiceError } from './status';
import type { Metrics } from '../metrics';
import { BlockstoreError } from '../errors';
import { clusterCredentials, requireClusterCredentials, type ClusterCredentials } from '../security/cluster-credentials';
import { serverCredentials, verifyClusterCall } from './credentials';
import { markMalformed, requestOf } from './malformed';
import { installFramedSend, type FramedMessage } from './framed';

/**
 * HTTP/2 receive window for uploads. Node's default (64 KiB) makes every
 * 64 KiB block wait a WINDOW_UPDATE round trip; grpc-js 1.14 has no server
 * option for it (grpc-node PR #3058), so it is set on the server's HTTP/2
 * settings and on each session's connection window.
 */
const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * A public server's (a gateway's) connection window: what a client or the
 * balancer may send on one connection before the gateway reads it. 1 MiB
 * keeps uploads from waiting on window updates (the ~500 KB mix through
 * HAProxy: p99 0.3–0.4 s, against 0.9–1.1 s at HTTP/2's 64 KiB). At 8 MiB,
 * in two QAS-001 drills of three, calls to the other gateway all but
 * stopped while one was frozen (SIGSTOP, 10 s: 3 and 0 successful calls/s);
 * at 1 MiB, 559–1,105 in five drills. Internal servers keep 8 MiB.
 */
const PUBLIC_CONNECTION_WINDOW_BYTES = 1024 * 1024;

/**
 * Raises each session's receive windows: RECEIVE_WINDOW_BYTES for every
 * stream, `connectionWindow` for the connection. A session (a client's or a
 * balancer's connection) that ends in an error, or on the peer's GOAWAY
 * with an error code, is logged: every call
 * it still carried fails at its client ("Stream removed" through HAProxy),
 * and this is the server's side of that story (with how many calls it
 * carried: one close listener per call keeps that count). A GOAWAY from
 * HAProxy 2.6 shows here as "Protocol error": it names HAProxy's own last
 * stream, which Node's HTTP/2 library rejects, ending the session at once
 * (docs/performance.md, eleventh round).
 */
function tuneSessions(server: grpc.Server, connectionWindow: number, logger: Logger): void {
  type SessionHandler = (http2Server: unknown) => (session: Http2Session & { setLocalWindowSize?: (n: number) => void }) => void;
  const internals = server as unknown as { commonServerOptions?: { settings?: Record<string, unknown> } } & Record<string, SessionHandler | undefined>;
  if (!internals.commonServerOptions) return;
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: RECEIVE_WINDOW_BYTES, maxFrameSize: 1024 * 1024 };
  // grpc-js takes each new session through one of two handlers (the second
  // when channelz is on); both are wrapped, so neither path skips this.
  for (const name of ['_sessionHandler', '_channelzSessionHandler']) {
    const original = internals[name];
    if (typeof original !== 'function') continue;
    internals[name] = (http2Server) => {
      const handle = original.call(server, http2Server);
      return (session) => {
        try {
          session.setLocalWindowSize?.(connectionWindow);
        } catch {
          /* older Node: keep the default */
        }
        handle(session);
        const openedAt = Date.now();
        const peer = session.socket?.remoteAddress;
        // Calls open now, and calls ended by the session's own end (a failed
        // session closes its streams before its error is emitted). A session
        // that fails while idle fails no call: a reset is a balancer letting
        // go of a connection (not logged), and an error (HAProxy's GOAWAY
        // when it closes an idle connection) is noted, not warned about.
        let open = 0;
        let endedWithSession = 0;
        session.on('stream', (stream: ServerHttp2Stream) => {
          open++;
          stream.once('close', () => {
            open--;
            if (session.destroyed) endedWithSession++;
          });
        });
        session.on('error', (err: Error & { code?: string }) => {
          const calls = open + endedWithSession;
          const fields = { err, calls, ageMs: Date.now() - openedAt, peer };
          if (calls > 0) logger.warn('an HTTP/2 session failed; the calls it carried fail', fields);
          else if (err.code !== 'ECONNRESET') logger.info('an idle HTTP/2 session ended on an error; no call was open', fields);
        });
        session.on('goaway', (code) => {
          if (code !== 0) logger.warn('an HTTP/2 session was ended by its peer with an error', { code, ageMs: Date.now() - openedAt, peer });
        });
      };
    };
  }
}

export interface RpcServerOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  logger: Logger;
  maxMessageBytes?: number;
  /** Requests by method and status, and latencies (Prometheus, side port). */
  metrics?: Metrics;
  /** While it returns true, every call of the registered services fails with UNAVAILABLE (a fault hook for drills). */
  faulty?: () => boolean;
  /**
   * 'internal' (block daemons, metadata nodes): every call of the registered
   * services must carry cluster credentials (secret and/or mTLS client
   * certificate). 'public' (gateways): TLS when configured, callers are
   * authenticated by the services themselves (bearer tokens).
   */
  exposure: 'internal' | 'public';
  /** Cluster credentials: TLS material and the secret internal calls must carry (default: the process's, for tools and tests). */
  credentials?: ClusterCredentials;
}

/** What a unary handler receives besides the request. */
export interface CallContext {
  metadata: grpc.Metadata;
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  peer: string;
}

export type UnaryFn<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

/** What a server-streaming handler receives besides the request. */
export interface StreamContext<Res> extends CallContext {
  /**
   * Sends one message, waiting while the client's buffer is full; a client
   * that reads nothing for the stream's idle limit gets the stream closed.
   * A FramedMessage (lib/rpc/framed.ts) goes out as it was framed.
   * `onWritten` runs once the message has been written to the connection
   * (not when it fails or the call ends first): then nothing refers to its
   * bytes any more.
   * @throws BlockstoreError DEADLINE_EXCEEDED when the client stopped reading.
   */
  send(message: Res | FramedMessage, onWritten?: () => void): Promise<void>;
}

/** A client-streaming handler reads the request stream from the call. */
export type ClientStreamFn<Req, Res> = (call: grpc.ServerReadableStream<Req, Res>, ctx: CallContext) => Promise<Res>;
export type ServerStreamFn<Req, Res> = (request: Req, ctx: StreamContext<Res>) => Promise<void>;

/**
 * Waits until a stream's send buffer drains.
 * @throws BlockstoreError DEADLINE_EXCEEDED after idleMs without a drain.
 */
function drained(call: { once(ev: 'drain', l: () => void): unknown; removeListener(ev: 'drain', l: () => void): unknown }, idleMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      call.removeListener('drain', onDrain);
      reject(new BlockstoreError('DEADLINE_EXCEEDED', `the client read nothing for ${idleMs} ms: the stream was closed as idle`));
    }, idleMs);
    call.once('drain', onDrain);
  });
}

/**
 * An AbortSignal that fires when the call is cancelled (client gone or
 * deadline passed) while its handler runs. grpc-js reports 'cancelled' when
 * any call's stream closes, finished or not: `settled` stops listening once
 * the handler is done, so a finished call aborts nothing (an abort also
 * builds a DOMException, a stack capture per call).
 */
function cancelSignal(call: { on(ev: 'cancelled', l: () => void): unknown; removeListener(ev: 'cancelled', l: () => void): unknown }): { readonly signal: AbortSignal; readonly cancelled: boolean; settled(): void } {
  // The controller is made when a handler first asks for the signal (most
  // unary handlers never do): an AbortController and its signal cost a few
  // microseconds a call.
  let ac: AbortController | undefined;
  let cancelled = false;
  const onCancel = () => {
    cancelled = true;
    ac?.abort();
  };
  call.on('cancelled', onCancel);
  return {
    get signal() {
      if (!ac) {
        ac = new AbortController();
        if (cancelled) ac.abort();
      }
      return ac.signal;
    },
    get cancelled() {
      return cancelled;
    },
    settled: () => call.removeListener('cancelled', onCancel),
  };
}

/** A handler's view of its call; the signal and the peer's address are made only when asked for. */
function callContext(call: { metadata: grpc.Metadata; getPeer(): string }, cancel: { readonly signal: AbortSignal }): CallContext {
  return {
    metadata: call.metadata,
    get signal() {
      return cancel.signal;
    },
    get peer() {
      return call.getPeer();
    },
  };
}

/**
 * Wraps a handler of an internal service so it runs only for a caller with
 * cluster credentials; others get UNAUTHENTICATED before any work is done.
 */
function guardHandler(method: grpc.MethodDefinition<unknown, unknown>, handler: grpc.UntypedHandleCall, server: RpcServer, credentials: ClusterCredentials): grpc.UntypedHandleCall {
  const h = handler as (...args: unknown[]) => void;
  const fail = (err: unknown) => server.toStatus(err, method.path);
  if (!method.responseStream) {
    return ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      try {
        verifyClusterCall(call.metadata, credentials);
      } catch (err) {
        callback(fail(err));
        return;
      }
      h(call, callback);
    }) as grpc.UntypedHandleCall;
  }
  return ((call: grpc.ServerWritableStream<unknown, unknown>) => {
    try {
      verifyClusterCall(call.metadata, credentials);
    } catch (err) {
      call.emit('error', fail(err));
      return;
    }
    h(call);
  }) as grpc.UntypedHandleCall;
}

export class RpcServer {
  readonly health: HealthState;
  private readonly server: grpc.Server;
  private readonly options: RpcServerOptions;
  private readonly serviceNames: string[] = [];
  private port = 0;
  private inFlight = 0;
  private closed = false;

  private readonly credentials: ClusterCredentials;

  constructor(options: RpcServerOptions) {
    this.options = options;
    this.credentials = options.credentials ?? clusterCredentials();
    installFramedSend();
    if (options.exposure === 'internal') requireClusterCredentials(this.credentials);
    const max = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5000,
      // Channelz (grpc-js's introspection service, which nothing here
      // serves) would also route every session past tuneSessions' handler.
      'grpc.enable_channelz': 0,
    });
    tuneSessions(this.server, options.exposure === 'public' ? PUBLIC_CONNECTION_WINDOW_BYTES : RECEIVE_WINDOW_BYTES, options.logger);
    this.health = new HealthState([]);
    const { protos, descriptorSet } = loadProtos();
    const index = new DescriptorIndex(descriptorSet);
    this.server.addService(protos.grpc.health.v1.Health.service, this.health.handlers());
    const reflect = reflectionHandler(index, () => [...this.serviceNames, 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection']);
    this.server.addService(protos.grpc.reflection.v1.ServerReflection.service, { ServerReflectionInfo: reflect });
    this.server.addService(protos.grpc.reflection.v1alpha.ServerReflection.service, { ServerReflectionInfo: reflect });
  }

  /**
   * Registers a service; `fullName` is e.g. "blockstore.internal.v1.BlockDaemon".
   * Undecodable request bytes reach handlers as a marked message (answered
   * INVALID_ARGUMENT, not grpc-js's INTERNAL); on an internal server every
   * call is checked for cluster credentials before its handler runs.
   */
  addService(fullName: string, definition: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): void {
    const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const wrapped: grpc.UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      def[name] = { ...method, requestDeserialize: markMalformed(method.requestDeserialize) };
      const handler = handlers[name];
      if (handler) wrapped[name] = this.options.exposure === 'internal' ? guardHandler(method, handler, this, this.credentials) : handler;
    }
    this.server.addService(def as grpc.ServiceDefinition, wrapped);
    this.serviceNames.push(fullName);
    this.health.set(fullName, 'SERVING');
  }

  /**
   * The one pipeline every call of a registered service runs through (unary
   * and streaming alike): the fault hook, counting in flight, the handler,
   * error mapping, and metrics by method and status. Authentication of
   * cluster calls happens before it (addService); bearer tokens are the
   * services' own. Resolves to the handler's result or the mapped status.
   */
  private async pipeline<T>(method: string, work: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; status: Partial<grpc.StatusObject> }> {
    this.inFlight++;
    const started = performance.now();
    try {
      if (this.options.faulty?.()) throw new BlockstoreError('UNAVAILABLE', 'this node is failing on purpose (fault drill)');
      const value = await work();
      this.record(method, 'OK', started);
      return { ok: true, value };
    } catch (err) {
      const status = toServiceError(err, this.options.logger, method);
      this.record(method, grpc.status[status.code ?? grpc.status.UNKNOWN] ?? String(status.code), started);
      return { ok: false, status };
    } finally {
      this.inFlight--;
    }
  }

  /** A unary handler: the request in, one reply out. */
  unary<Req, Res>(method: string, fn: UnaryFn<Req, Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const cancel = cancelSignal(call);
      void this.pipeline(method, () => fn(requestOf(call.request), callContext(call, cancel))).then((r) => {
        cancel.settled();
        if (r.ok) callback(null, r.value);
        else callback(r.status);
      });
    };
  }

  /** A client-streaming handler: reads the call's messages, one reply out. */
  clientStream<Req, Res>(method: string, fn: ClientStreamFn<Req, Res>): grpc.handleClientStreamingCall<Req, Res> {
    return (call, callback) => {
      const cancel = cancelSignal(call);
      void this.pipeline(method, () => fn(call, callContext(call, cancel))).then((r) => {
        cancel.settled();
        if (r.ok) callback(null, r.value);
        else callback(r.status);
      });
    };
  }

  /**
   * A server-streaming handler: sends messages through `ctx.send`, with
   * backpressure; the stream ends when the handler returns, or with the
   * mapped status when it throws (nothing is sent to a client that left).
   */
  serverStream<Req, Res>(method: string, fn: ServerStreamFn<Req, Res>, options: { idleMs: number }): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => {
      const cancel = cancelSignal(call);
      const send = async (m: Res | FramedMessage, onWritten?: () => void) => {
        if (cancel.cancelled) throw new BlockstoreError('CANCELLED', 'the client cancelled the stream');
        // grpc-js calls a write's callback only once the message is on the connection.
        const written = onWritten && ((err?: Error | null) => err || onWritten());
        if (!call.write(m as Res, written)) await drained(call, options.idleMs);
      };
      const ctx: StreamContext<Res> = Object.assign(callContext(call, cancel), { send });
      void this.pipeline(method, () => fn(requestOf(call.request), ctx)).then((r) => {
        cancel.settled();
        if (cancel.cancelled) return;
        // grpc-js sends an 'error' emitted on a server stream as its status.
        if (r.ok) call.end();
        else call.emit('error', r.status);
      });
    };
  }

  /** Counts a finished call (status by name: OK, NOT_FOUND, UNAVAILABLE, …). */
  private record(method: string, status: string, started: number): void {
    this.options.metrics?.inc('blockstore_rpc_requests_total', { method, status });
    this.options.metrics?.observe('blockstore_rpc_latency_seconds', { method, status }, performance.now() - started);
  }

  /** Maps an error to a status (for handlers outside the pipeline, e.g. replication streams). */
  toStatus(err: unknown, method: string): Partial<grpc.StatusObject> {
    return toServiceError(err, this.options.logger, method);
  }

  /** Binds and starts; resolves to the bound port. */
  async start(): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.options.listen, serverCredentials(this.options.exposure, this.credentials), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    return this.port;
  }

  get boundPort(): number {
    return this.port;
  }

  get callsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Graceful stop: health goes NOT_SERVING, then after `noticeMs` (time for
   * a balancer to see it) the server refuses new calls and waits up to
   * `graceMs` for in-flight ones before cutting them off. Idempotent.
   */
  async drain(noticeMs = 0, graceMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.health.setAll('NOT_SERVING');
    if (noticeMs > 0) await new Promise((r) => setTimeout(r, noticeMs));
    this.health.closeWatchers();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Immediate stop (tests, fatal errors). Idempotent. */
  close(): void {
    this.closed = true;
    this.server.forceShutdown();
  }
}
