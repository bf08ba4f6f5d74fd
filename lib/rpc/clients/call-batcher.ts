/**
 * Small calls to one node, sent together. While calls are under way, the
 * requests that arrive wait and go in the next batched call (natural
 * batching: no timer, so an idle node sees a request at once). The node
 * answers each request on its own; a request's error is rebuilt here as
 * the BlockstoreError its own call would have ended with, so callers (and
 * their retries through failovers) cannot tell the difference. A request
 * alone goes as the plain call. A node that does not know the batched call
 * (an older one during an upgrade) gets one plain call per request from
 * then on.
 *
 * Why: commits and file stats are small, and the CPU a metadata node spent
 * on each was dominated by grpc-js's per-call work (headers, streams, the
 * HTTP/2 session), paid on the caller's side too; the master also writes
 * commits that wait together as one log batch.
 */
import * as grpc from '@grpc/grpc-js';
import { BlockstoreError, isErrorCode } from '../../errors';

/** Calls under way to one node at once: one being written while the next gathers. */
const MAX_IN_FLIGHT = 2;

/** One request's answer in a batched call: its response, or the error its own call would have ended with. */
export interface Outcome<Res> {
  response?: Res | null;
  errorCode: string;
  errorMessage: string;
  errorDetails?: Record<string, string>;
}

export interface BatchLimits<Req> {
  /** Requests per call. */
  maxItems: number;
  /** Bound on the sum of `weight` per call (a call of one request may exceed it). */
  maxWeight?: number;
  weight?: (req: Req) => number;
}

interface Waiting<Req, Res> {
  req: Req;
  resolve(r: Res): void;
  reject(err: unknown): void;
}

/** The error an outcome names, as fromServiceError would have rebuilt it from a status. */
export function outcomeError(o: Outcome<unknown>): BlockstoreError {
  const details: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.errorDetails ?? {})) details[k.toLowerCase()] = v;
  return new BlockstoreError(isErrorCode(o.errorCode) ? o.errorCode : 'INTERNAL', o.errorMessage, { details });
}

export class CallBatcher<Req, Res> {
  private queue: Array<Waiting<Req, Res>> = [];
  private inFlight = 0;
  /** The node answered UNIMPLEMENTED to the batched call: one call per request. */
  private single = false;
  /** Calls made (tests, status). */
  calls = 0;

  constructor(
    private readonly sendMany: (reqs: Req[]) => Promise<{ outcomes: Array<Outcome<Res>> }>,
    private readonly sendOne: (req: Req) => Promise<Res>,
    private readonly limits: BatchLimits<Req>,
  ) {}

  /** Resolves or fails as `sendOne(req)` would. */
  call(req: Req): Promise<Res> {
    if (this.single) {
      this.calls++;
      return this.sendOne(req);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    const { maxItems, maxWeight = Infinity, weight = () => 0 } = this.limits;
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      let total = 0;
      let n = 0;
      while (n < this.queue.length && n < maxItems) {
        const w = weight(this.queue[n]!.req);
        if (n > 0 && total + w > maxWeight) break;
        total += w;
        n++;
      }
      const batch = this.queue.splice(0, n);
      this.inFlight++;
      this.calls++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Array<Waiting<Req, Res>>): Promise<void> {
    if (batch.length === 1 || this.single) {
      await Promise.all(batch.map((w) => this.sendOne(w.req).then(w.resolve, w.reject)));
      return;
    }
    let outcomes: Array<Outcome<Res>>;
    try {
      ({ outcomes } = await this.sendMany(batch.map((w) => w.req)));
    } catch (err) {
      if ((err as { grpcCode?: number }).grpcCode === grpc.status.UNIMPLEMENTED) {
        this.single = true;
        await Promise.all(batch.map((w) => this.sendOne(w.req).then(w.resolve, w.reject)));
        return;
      }
      for (const w of batch) w.reject(err);
      return;
    }
    if (outcomes.length !== batch.length) {
      const err = new BlockstoreError('INTERNAL', `the batched call answered ${outcomes.length} outcomes for ${batch.length} requests`);
      for (const w of batch) w.reject(err);
      return;
    }
    outcomes.forEach((o, i) => {
      const w = batch[i]!;
      if (o.errorCode) w.reject(outcomeError(o));
      else if (o.response) w.resolve(o.response);
      else w.reject(new BlockstoreError('INTERNAL', 'the batched call answered a request with neither a response nor an error'));
    });
  }
}
