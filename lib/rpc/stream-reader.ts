/**
 * A server-side client stream as an async iterator that ends only on a
 * clean half-close, and throws CANCELLED when the client goes away — so a
 * client that disappears mid-upload can never look like a finished upload.
 */
import type * as grpc from '@grpc/grpc-js';
import { BlockstoreError } from '../errors';
import { requestOf } from './malformed';

export function readClientStream<T>(call: grpc.ServerReadableStream<T, unknown>, signal: AbortSignal, idleMs = 0): AsyncGenerator<T> {
  const queue: T[] = [];
  let done = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  // A stream that sends nothing for idleMs is closed (a stalled or
  // never-ending upload must not hold a slot and its buffers forever).
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    if (idleMs <= 0 || done || failure) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      failure ??= new BlockstoreError('DEADLINE_EXCEEDED', `no message for ${idleMs} ms: the stream was closed as idle; nothing was committed`);
      notify();
    }, idleMs);
    idleTimer.unref();
  };
  armIdle();
  call.on('data', (m: T) => {
    armIdle();
    try {
      requestOf(m);
    } catch (err) {
      failure ??= err;
      notify();
      return;
    }
    queue.push(m);
    if (queue.length > 8) call.pause();
    notify();
  });
  call.on('end', () => {
    clearTimeout(idleTimer);
    done = true;
    notify();
  });
  call.on('error', (err: Error) => {
    failure ??= err;
    notify();
  });
  const onAbort = () => {
    failure ??= new BlockstoreError('CANCELLED', 'the client went away mid-stream; nothing was committed');
    notify();
  };
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  return (async function* () {
    try {
      for (;;) {
        if (failure) throw failure;
        if (queue.length) {
          const m = queue.shift()!;
          if (queue.length <= 2) call.resume();
          yield m;
          continue;
        }
        if (done) return;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      clearTimeout(idleTimer);
      signal.removeEventListener('abort', onAbort);
    }
  })();
}
