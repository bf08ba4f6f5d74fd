/**
 * A read view over the metadata tables with an in-memory layer of pending
 * writes on top. The master validates a batch of writes against it (each
 * write sees the ones before it in the batch); every node applies committed
 * entries through it and then writes `mutations()` in one LevelDB batch.
 */
export interface KvReader {
  get(key: string): Promise<string | undefined>;
}

export class Overlay implements KvReader {
  private readonly writes = new Map<string, string | undefined>();

  constructor(private readonly base: KvReader) {}

  async get(key: string): Promise<string | undefined> {
    if (this.writes.has(key)) return this.writes.get(key);
    return this.base.get(key);
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const v = await this.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  putJson(key: string, value: unknown): void {
    this.writes.set(key, JSON.stringify(value));
  }

  del(key: string): void {
    this.writes.set(key, undefined);
  }

  /** Pending writes, in first-write order; undefined values are deletes. */
  mutations(): Array<[string, string | undefined]> {
    return [...this.writes];
  }
}

/** In-memory KvReader (unit tests). */
export class MapReader implements KvReader {
  constructor(readonly map = new Map<string, string>()) {}
  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }
  write(mutations: Array<[string, string | undefined]>): void {
    for (const [k, v] of mutations) {
      if (v === undefined) this.map.delete(k);
      else this.map.set(k, v);
    }
  }
}
