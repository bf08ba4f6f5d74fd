/**
 * Per-user admission on a gateway: a token bucket of calls per second and a
 * cap on concurrent streams (uploads, downloads, watches). A call over
 * either limit fails RATE_LIMITED (gRPC RESOURCE_EXHAUSTED) with a retry
 * hint in milliseconds (detail `retry-after-ms`, also sent as
 * `grpc-retry-pushback-ms`, which gRPC retry policies honour).
 *
 * Limits are per gateway: behind a balancer spreading over G gateways a
 * user's cluster-wide ceiling is about G times these figures.
 */
import { BlockstoreError } from '../../lib/errors';

export interface UserLimitsConfig {
  /** Calls per second refilled into each user's bucket (0: no rate limit). */
  ratePerSecond: number;
  /** Bucket size: calls a user may make at once after being idle. */
  burst: number;
  /** Streams (PutFile, GetFile, PutBlocks, Watch) a user may hold open at once (0: no cap). */
  maxStreams: number;
}

interface Bucket {
  tokens: number;
  at: number;
  streams: number;
}

const MAX_TRACKED_USERS = 100_000;

export class UserLimits {
  private readonly users = new Map<string, Bucket>();

  constructor(
    private readonly config: UserLimitsConfig,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private bucket(userId: string): Bucket {
    let b = this.users.get(userId);
    if (!b) {
      if (this.users.size >= MAX_TRACKED_USERS) this.evictIdle();
      b = { tokens: this.config.burst, at: this.now(), streams: 0 };
      this.users.set(userId, b);
    }
    return b;
  }

  /** Forgets users with a full bucket and no open stream (their state is the default). */
  private evictIdle(): void {
    const t = this.now();
    for (const [id, b] of this.users) {
      if (b.streams === 0 && b.tokens + ((t - b.at) / 1000) * this.config.ratePerSecond >= this.config.burst) this.users.delete(id);
    }
  }

  /**
   * Takes one call from the user's bucket.
   * @throws BlockstoreError RATE_LIMITED with details.retryAfterMs.
   */
  admit(userId: string): void {
    const { ratePerSecond, burst } = this.config;
    if (ratePerSecond <= 0) return;
    const b = this.bucket(userId);
    const t = this.now();
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * ratePerSecond);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    const retryAfterMs = Math.max(1, Math.ceil(((1 - b.tokens) / ratePerSecond) * 1000));
    throw new BlockstoreError('RATE_LIMITED', `over ${ratePerSecond} calls/s for this user; retry after ${retryAfterMs} ms`, { details: { retryAfterMs: String(retryAfterMs) } });
  }

  /**
   * Opens a stream slot; call the returned function exactly when it ends.
   * @throws BlockstoreError RATE_LIMITED when the user already holds maxStreams.
   */
  openStream(userId: string): () => void {
    const b = this.bucket(userId);
    if (this.config.maxStreams > 0 && b.streams >= this.config.maxStreams) {
      throw new BlockstoreError('RATE_LIMITED', `this user already has ${b.streams} streams open on this gateway (limit ${this.config.maxStreams}); retry when one ends`, {
        details: { retryAfterMs: '1000' },
      });
    }
    b.streams++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      b.streams--;
    };
  }

  /**
   * Runs `fn` holding one of the user's stream slots, released when it ends.
   * @throws BlockstoreError RATE_LIMITED when no slot is free.
   */
  async withStream<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    const release = this.openStream(userId);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Open streams of a user (metrics, tests). */
  streams(userId: string): number {
    return this.users.get(userId)?.streams ?? 0;
  }
}
