/**
 * A live copy of every key under an etcd prefix: listed once, then kept
 * current by a watch that starts right after the listed revision (the
 * list-then-watch of Kubernetes informers). Changes arrive as they happen
 * instead of at the next poll, and an idle cluster costs etcd nothing.
 *
 * A watch is a shortcut, not the source of truth: `relist()` reads the
 * prefix again (callers do it now and then, and on demand). A listing older
 * than what the watch already applied is discarded; events below the
 * listed revision are already in it and are skipped, so the copy never
 * goes back in time.
 */
import type { Watcher } from 'etcd3';
import { useEtcd, type Etcd3, type EtcdSource } from './etcd';

export class PrefixMirror {
  /** key → value of every key under the prefix, as of `revision`. */
  readonly entries = new Map<string, string>();
  /** The etcd revision the copy reflects (0 before the first listing). */
  revision = 0;
  private readonly etcd: Etcd3;
  private readonly release: () => void;
  private watcher: Watcher | undefined;
  private closed = false;

  constructor(
    source: EtcdSource,
    readonly prefix: string,
    private readonly onChange: () => void = () => {},
  ) {
    ({ etcd: this.etcd, release: this.release } = useEtcd(source));
  }

  /** True while the watch stands (connected, not failed). */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /**
   * Lists the prefix, then watches it from the next revision.
   * @throws when etcd cannot be read (the caller polls with relist instead)
   */
  async start(): Promise<void> {
    await this.relist();
    if (this.closed || this.watcher) return;
    const w = await this.etcd
      .watch()
      .prefix(this.prefix)
      .startRevision(String(this.revision + 1))
      .create();
    if (this.closed) {
      await w.cancel().catch(() => undefined);
      return;
    }
    this.watcher = w;
    w.on('put', (kv) => this.apply(Number(kv.mod_revision), kv.key.toString(), kv.value.toString()));
    w.on('delete', (kv) => this.apply(Number(kv.mod_revision), kv.key.toString(), undefined));
    // A compacted start revision or a broken stream: fall back to listing.
    w.on('error', () => {
      if (this.watcher === w) this.watcher = undefined;
      void w.cancel().catch(() => undefined);
    });
  }

  /** Reads the whole prefix; replaces the copy unless the watch is already past it. */
  async relist(): Promise<void> {
    const res = await this.etcd.getAll().prefix(this.prefix).exec();
    const revision = Number(res.header.revision);
    if (revision < this.revision) return;
    this.entries.clear();
    for (const kv of res.kvs) this.entries.set(kv.key.toString(), kv.value.toString());
    this.revision = revision;
    this.onChange();
  }

  private apply(revision: number, key: string, value: string | undefined): void {
    // One transaction's events share a revision; a listing at that revision already holds them (applying again is harmless).
    if (revision < this.revision) return;
    if (value === undefined) this.entries.delete(key);
    else this.entries.set(key, value);
    this.revision = revision;
    this.onChange();
  }

  close(): void {
    this.closed = true;
    void this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.release();
  }
}
