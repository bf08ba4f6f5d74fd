/**
 * A bounded cache of table reads (present and absent keys alike) in front of
 * a metadata node's LevelDB. The store keeps it equal to the database:
 * every apply batch writes its mutations into it when the batch lands, and a
 * snapshot install or wipe clears it.
 *
 * A read that was already under way when a batch landed may carry the value
 * from before the batch; `generation` tells the reader not to cache it.
 * Eviction is least-recently-used, bounded by an estimate of bytes held.
 */
const ENTRY_OVERHEAD = 64;

export class ReadCache {
  private readonly map = new Map<string, string | undefined>();
  private bytes = 0;
  /** Bumped by every change that lands; a read began before it must not fill the cache. */
  generation = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** The cached value (undefined: cached as absent, or not cached — ask `has`); marks it recently used. */
  get(key: string): string | undefined {
    const v = this.map.get(key);
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  /** Fills the cache from a read that began at generation `since`; ignored when a change landed since. */
  fill(key: string, value: string | undefined, since: number): void {
    if (since === this.generation && this.maxBytes > 0) this.set(key, value);
  }

  /** Writes landed changes (undefined: deleted) and bumps the generation. */
  landed(changes: Iterable<readonly [string, string | undefined]>): void {
    this.generation++;
    if (this.maxBytes <= 0) return;
    for (const [k, v] of changes) this.set(k, v);
  }

  clear(): void {
    this.generation++;
    this.map.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.map.size;
  }

  private set(key: string, value: string | undefined): void {
    this.remove(key);
    this.map.set(key, value);
    this.bytes += cost(key, value);
    for (const [k] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(k);
    }
  }

  private remove(key: string): void {
    if (!this.map.has(key)) return;
    this.bytes -= cost(key, this.map.get(key));
    this.map.delete(key);
  }
}

function cost(key: string, value: string | undefined): number {
  return ENTRY_OVERHEAD + 2 * (key.length + (value?.length ?? 0));
}
