/**
 * The one retry policy: which failures to retry is a property of the error
 * (`BlockstoreError.retryable`, from its code), how often and how long is
 * the caller's policy. Backoff doubles from `baseDelayMs` up to
 * `maxDelayMs` with full jitter (a random wait up to the bound, so clients
 * that failed together do not retry together); a server's hint
 * (RATE_LIMITED's `retryAfterMs` detail) is a floor. A budget bounds the
 * whole call: no retry starts after it. One layer per call — callers do not
 * nest retry loops (nor wrap them around channel-level retry policies).
 */
import { BlockstoreError } from './errors';

export interface RetryPolicy {
  /** Most attempts, the first included (Infinity: until the budget runs out). */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No retry starts later than this after the first attempt began (default: no bound). */
  budgetMs?: number;
  /** Which failures to retry; default: a BlockstoreError whose `retryable` is set. */
  retryable?: (err: unknown) => boolean;
  /** Called before each retry (re-routing, logging). */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Test hooks. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export const isRetryable = (err: unknown): boolean => err instanceof BlockstoreError && err.retryable;

/** A server's "retry after" hint in ms, if the error carries one. */
function hintMs(err: unknown): number {
  if (!(err instanceof BlockstoreError)) return 0;
  const v = Number(err.details.retryAfterMs ?? err.details.retryafterms);
  return Number.isFinite(v) && v > 0 ? Math.min(v, 10_000) : 0;
}

/**
 * Runs `fn` (given the attempt number, from 1) until it succeeds, fails with
 * an error the policy does not retry, runs out of attempts or of budget.
 * @throws the last error.
 */
export async function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  const now = policy.now ?? Date.now;
  const random = policy.random ?? Math.random;
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const retryable = policy.retryable ?? isRetryable;
  const started = now();
  let bound = policy.baseDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.attempts || !retryable(err)) throw err;
      const wait = Math.max(hintMs(err), random() * bound);
      if (policy.budgetMs !== undefined && now() + wait - started >= policy.budgetMs) throw err;
      bound = Math.min(bound * 2, policy.maxDelayMs);
      policy.onRetry?.(err, attempt);
      await sleep(wait);
    }
  }
}
