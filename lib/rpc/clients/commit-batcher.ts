/**
 * Commits to one metadata node, sent together. While calls are under way,
 * the commits that arrive wait and go in the next CommitVersions call
 * (natural batching: no timer, so an idle master sees a commit at once).
 * The master answers each commit on its own; a commit's error is rebuilt
 * here as the BlockstoreError its own CommitVersion call would have ended
 * with, so callers (and their retries through failovers) cannot tell the
 * difference. A commit alone goes as a CommitVersion call. A node that does
 * not know CommitVersions (an older master during an upgrade) gets one
 * CommitVersion call per commit from then on.
 *
 * Why: a commit is small and the master's CPU per commit was dominated by
 * grpc-js's per-call work (headers, streams, the HTTP/2 session), paid on
 * the gateway too; the master already writes commits that wait together as
 * one log batch.
 */
import * as grpc from '@grpc/grpc-js';
import { BlockstoreError, isErrorCode } from '../../errors';
import type { CommitOutcome__Output } from '../../../proto/gen/ts/blockstore/internal/v1/CommitOutcome';
import type { CommitVersionRequest } from '../../../proto/gen/ts/blockstore/internal/v1/CommitVersionRequest';
import type { CommitVersionResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/CommitVersionResponse';
import type { CommitVersionsResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/CommitVersionsResponse';

/** Calls under way to one node at once: one being written while the next gathers. */
const MAX_IN_FLIGHT = 2;
/** Commits per call (the master takes up to 256). */
const MAX_COMMITS = 64;
/** Block references per call, so a call stays far below the message limit. */
const MAX_BLOCKS = 20_000;

interface Waiting {
  req: CommitVersionRequest;
  resolve(r: CommitVersionResponse__Output): void;
  reject(err: unknown): void;
}

/** The error a commit's outcome names, as fromServiceError would have rebuilt it from a status. */
export function outcomeError(o: CommitOutcome__Output): BlockstoreError {
  const details: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.errorDetails ?? {})) details[k.toLowerCase()] = v;
  return new BlockstoreError(isErrorCode(o.errorCode) ? o.errorCode : 'INTERNAL', o.errorMessage, { details });
}

export class CommitBatcher {
  private queue: Waiting[] = [];
  private inFlight = 0;
  /** The node answered UNIMPLEMENTED to CommitVersions: one call per commit. */
  private single = false;
  /** Calls made (tests, status). */
  calls = 0;

  constructor(
    private readonly sendMany: (reqs: CommitVersionRequest[]) => Promise<CommitVersionsResponse__Output>,
    private readonly sendOne: (req: CommitVersionRequest) => Promise<CommitVersionResponse__Output>,
  ) {}

  commit(req: CommitVersionRequest): Promise<CommitVersionResponse__Output> {
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
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      let blocks = 0;
      let n = 0;
      while (n < this.queue.length && n < MAX_COMMITS) {
        const b = this.queue[n]!.req.blocks?.length ?? 0;
        if (n > 0 && blocks + b > MAX_BLOCKS) break;
        blocks += b;
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

  private async run(batch: Waiting[]): Promise<void> {
    if (batch.length === 1 || this.single) {
      await Promise.all(batch.map((w) => this.sendOne(w.req).then(w.resolve, w.reject)));
      return;
    }
    let res: CommitVersionsResponse__Output;
    try {
      res = await this.sendMany(batch.map((w) => w.req));
    } catch (err) {
      if ((err as { grpcCode?: number }).grpcCode === grpc.status.UNIMPLEMENTED) {
        this.single = true;
        await Promise.all(batch.map((w) => this.sendOne(w.req).then(w.resolve, w.reject)));
        return;
      }
      for (const w of batch) w.reject(err);
      return;
    }
    if (res.outcomes.length !== batch.length) {
      const err = new BlockstoreError('INTERNAL', `CommitVersions answered ${res.outcomes.length} outcomes for ${batch.length} commits`);
      for (const w of batch) w.reject(err);
      return;
    }
    res.outcomes.forEach((o, i) => {
      const w = batch[i]!;
      if (o.errorCode) w.reject(outcomeError(o));
      else if (o.response) w.resolve(o.response);
      else w.reject(new BlockstoreError('INTERNAL', 'CommitVersions answered a commit with neither a response nor an error'));
    });
  }
}
