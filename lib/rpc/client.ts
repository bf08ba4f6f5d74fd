/**
 * Client helpers: channels with raised message limits, and promise-returning
 * unary calls that rebuild the server's BlockstoreError.
 */
import * as grpc from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES } from '../limits';
import { fromServiceError } from './status';

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // Receive window for downloads (64 KiB by default: a round trip per block).
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  // No channelz bookkeeping (grpc-js's introspection; nothing here reads it).
  'grpc.enable_channelz': 0,
};

export interface CallOpts {
  /** Milliseconds from now; default 30 s. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
  signal?: AbortSignal;
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls a unary method and resolves with its response.
 * @throws BlockstoreError rebuilt from the status (code from trailing metadata).
 */
export function callUnary<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, req: Req, opts: CallOpts = {}): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    const call = method.call(client, req, opts.metadata ?? new grpc.Metadata(), { deadline }, (err, res) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(fromServiceError(err));
      else resolve(res as Res);
    });
    const onAbort = () => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
