/**
 * How long a master lease is certainly still valid, on the monotonic clock.
 *
 * etcd renews a lease for its TTL from when it handles a keepalive, which
 * is after the request was sent; so a reply proves the lease valid until
 * (send time of *that* request) + TTL. Replies on one keepalive stream come
 * in request order, so send times queue and each reply takes the oldest. A
 * reply must never be credited to a newer send: a request that sat unanswered
 * (etcd slow, a pause) would otherwise stretch the lease past what etcd
 * granted, and a deposed master would keep acknowledging writes.
 */
export class FenceClock {
  private validUntil = 0;
  private sent: number[] = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A grant requested at `sentAt` was answered with this TTL. */
  granted(sentAt: number, ttlSeconds: number): void {
    this.validUntil = Math.max(this.validUntil, sentAt + ttlSeconds * 1000);
  }

  /** A new keepalive stream: requests sent on an earlier one get no reply. */
  streamChanged(): void {
    this.sent = [];
  }

  /** A keepalive request is being sent. */
  fired(): void {
    this.sent.push(this.now());
  }

  /** A keepalive reply arrived, renewing the lease for `ttlSeconds`. */
  answered(ttlSeconds: number): void {
    const sentAt = this.sent.shift();
    if (sentAt === undefined) return; // a reply we cannot date proves nothing
    this.validUntil = Math.max(this.validUntil, sentAt + ttlSeconds * 1000);
  }

  /** The lease is gone (revoked, expired, given up). */
  lost(): void {
    this.validUntil = 0;
    this.sent = [];
  }

  /** Milliseconds still certain (≤ 0: fenced). */
  remainingMs(): number {
    return this.validUntil - this.now();
  }
}
