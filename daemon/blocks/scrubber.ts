/**
 * Background scrubber: walks every stored block in hash order and re-hashes
 * it at a bounded byte rate, so bit rot is found before a reader needs the
 * copy (end-to-end integrity: README, Guarantees). Corrupt copies are recorded in the
 * BlockStore (stats, never served); repair replaces them from good replicas.
 */
import type { Logger } from '../../lib/logger';
import type { BlockStore } from './block-store';

export interface ScrubberOptions {
  /** Re-hash at most this many bytes a second. */
  bytesPerSecond: number;
  /** Pause between full passes. */
  passIntervalMs: number;
  pageSize?: number;
}

export class Scrubber {
  scrubbedBlocks = 0;
  lastPassCompleted: Date | undefined;
  private stopped = true;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly store: BlockStore,
    private readonly options: ScrubberOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Stops after the current block; idempotent. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let after = '';
      for (;;) {
        if (this.stopped) return;
        let page;
        try {
          page = await this.store.list(after, this.options.pageSize ?? 256);
        } catch (err) {
          this.logger.warn('scrub listing failed', { err: err as Error });
          break;
        }
        if (page.length === 0) break;
        for (const entry of page) {
          if (this.stopped) return;
          if (entry.corrupt) continue;
          const started = Date.now();
          const { ok } = await this.store.verify(entry.hash).catch(() => ({ ok: true, size: 0 }));
          this.scrubbedBlocks++;
          if (!ok) this.logger.warn('scrub found a corrupt block', { hash: entry.hash });
          // Rate limit: this block may take size/rate seconds in all.
          const budgetMs = (entry.size / this.options.bytesPerSecond) * 1000;
          await this.pause(budgetMs - (Date.now() - started));
        }
        after = page[page.length - 1]!.hash;
      }
      this.lastPassCompleted = new Date();
      await this.pause(this.options.passIntervalMs);
    }
  }

  private pause(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
