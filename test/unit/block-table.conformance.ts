/**
 * The BlockTable contract, run against every implementation
 * (Level/abstract-level's habit: one suite, many stores).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256Hex } from '../../lib/hash';
import type { BlockTable } from '../../daemon/store/block-table';

export interface StoreFactory {
  name: string;
  /** A fresh empty store, and a way to dispose of it. */
  make(): Promise<{ store: BlockTable; dispose(): Promise<void>; reopen?(): Promise<BlockTable> }>;
}

function block(n: number, fill = n % 251): { hash: string; data: Buffer } {
  const data = Buffer.alloc(n, fill);
  data.writeUInt32BE(n, 0);
  return { hash: sha256Hex(data), data };
}

export function chunkStoreConformance(factory: StoreFactory): void {
  const test = suite(`BlockTable conformance: ${factory.name}`);

  test('put then get returns the same bytes; sizes and totals follow', async () => {
    const { store, dispose } = await factory.make();
    try {
      const a = block(1000);
      const b = block(65536);
      await store.put(a.hash, a.data);
      await store.put(b.hash, b.data);
      assert.equal(await store.get(a.hash), a.data);
      assert.equal(await store.get(b.hash), b.data);
      assert.equal(await store.sizes([a.hash, 'f'.repeat(64), b.hash]), [1000, undefined, 65536]);
      assert.equal(store.totals(), { blocks: 2, bytes: 66536 });
    } finally {
      await dispose();
    }
  });

  test('get of an absent hash is undefined', async () => {
    const { store, dispose } = await factory.make();
    try {
      assert.is(await store.get('0'.repeat(64)), undefined);
    } finally {
      await dispose();
    }
  });

  test('a second put of the same hash does not double-count', async () => {
    const { store, dispose } = await factory.make();
    try {
      const a = block(4096);
      await Promise.all([store.put(a.hash, a.data), store.put(a.hash, a.data)]);
      await store.put(a.hash, a.data);
      assert.equal(store.totals(), { blocks: 1, bytes: 4096 });
    } finally {
      await dispose();
    }
  });

  test('64 concurrent puts all land (group commit)', async () => {
    const { store, dispose } = await factory.make();
    try {
      const blocks = Array.from({ length: 64 }, (_, i) => block(1024 + i));
      await Promise.all(blocks.map((b) => store.put(b.hash, b.data)));
      const sizes = await store.sizes(blocks.map((b) => b.hash));
      assert.equal(sizes, blocks.map((b) => b.data.length));
      assert.is(store.totals().blocks, 64);
    } finally {
      await dispose();
    }
  });

  test('put reports whether it wrote; overwrite replaces', async () => {
    const { store, dispose } = await factory.make();
    try {
      const a = block(300);
      assert.equal(await store.put(a.hash, a.data), { written: true, size: 300 });
      assert.equal(await store.put(a.hash, Buffer.alloc(300, 9)), { written: false, size: 300 });
      assert.equal(await store.get(a.hash), a.data);
      const other = Buffer.alloc(250, 7);
      assert.equal(await store.put(a.hash, other, { overwrite: true }), { written: true, size: 250 });
      assert.equal(await store.get(a.hash), other);
      assert.equal(store.totals(), { blocks: 1, bytes: 250 });
    } finally {
      await dispose();
    }
  });

  test('delete removes, reports what existed, ignores the absent', async () => {
    const { store, dispose } = await factory.make();
    try {
      const a = block(100);
      const b = block(200);
      await store.put(a.hash, a.data);
      await store.put(b.hash, b.data);
      const gone = await store.delete([a.hash, a.hash, '1'.repeat(64)]);
      assert.equal(gone.map((g) => ({ hash: g.hash, size: g.size })), [{ hash: a.hash, size: 100 }]);
      assert.is(await store.get(a.hash), undefined);
      assert.equal(store.totals(), { blocks: 1, bytes: 200 });
    } finally {
      await dispose();
    }
  });

  test('list pages through every block in hash order', async () => {
    const { store, dispose } = await factory.make();
    try {
      const blocks = Array.from({ length: 25 }, (_, i) => block(10 + i));
      for (const b of blocks) await store.put(b.hash, b.data);
      const seen: string[] = [];
      let after = '';
      for (;;) {
        const page = await store.list(after, 7);
        if (!page.length) break;
        assert.ok(page.length <= 7);
        seen.push(...page.map((e) => e.hash));
        after = page[page.length - 1]!.hash;
      }
      assert.equal(seen, blocks.map((b) => b.hash).sort());
    } finally {
      await dispose();
    }
  });

  test('touch renews a present block\'s time without rewriting it; false when absent', async () => {
    const { store, dispose } = await factory.make();
    try {
      const a = block(900);
      await store.put(a.hash, a.data);
      const [first] = await store.touched([a.hash]);
      await new Promise((r) => setTimeout(r, 5)); // a clock tick apart (not synchronisation)
      assert.is(await store.touch(a.hash), true);
      const [second] = await store.touched([a.hash]);
      assert.ok(second! > first!, 'renewed');
      assert.equal(store.totals(), { blocks: 1, bytes: 900 });
      assert.equal(await store.get(a.hash), a.data);
      assert.is(await store.touch('3'.repeat(64)), false);
      assert.equal(await store.touched(['3'.repeat(64)]), [undefined]);
    } finally {
      await dispose();
    }
  });

  test('touch times: set on put, renewed by a put of a present block, listed', async () => {
    const { store, dispose } = await factory.make();
    try {
      const a = block(700);
      const t0 = Date.now();
      await store.put(a.hash, a.data);
      const [first] = await store.touched([a.hash, '2'.repeat(64)]);
      assert.ok(first! >= t0 && first! <= Date.now());
      assert.equal(await store.touched(['2'.repeat(64)]), [undefined]);
      await new Promise((r) => setTimeout(r, 5)); // a clock tick apart (not synchronisation)
      await store.put(a.hash, a.data);
      const [second] = await store.touched([a.hash]);
      assert.ok(second! > first!, 'renewed');
      assert.is((await store.list('', 10))[0]!.touched, second);
    } finally {
      await dispose();
    }
  });

  test('a body put in parts is stored back to back, inline and in a segment alike', async () => {
    const { store, dispose } = await factory.make();
    try {
      for (const n of [100, 200_000]) {
        const { hash, data } = block(n);
        const parts = [data.subarray(0, 1), data.subarray(1, n >> 1), data.subarray(n >> 1)];
        assert.equal(await store.put(hash, parts), { written: true, size: n });
        assert.ok((await store.get(hash))!.equals(data), `${n} bytes`);
        assert.equal(await store.sizes([hash]), [n]);
      }
    } finally {
      await dispose();
    }
  });

  test('a 4 MiB block round-trips', async () => {
    const { store, dispose } = await factory.make();
    try {
      const data = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < data.length; i += 4096) data[i] = i % 256;
      const hash = sha256Hex(data);
      await store.put(hash, data);
      assert.ok((await store.get(hash))!.equals(data));
    } finally {
      await dispose();
    }
  });

  test('what was put survives a reopen (durable stores only)', async () => {
    const made = await factory.make();
    if (!made.reopen) {
      await made.dispose();
      return;
    }
    const a = block(5000);
    await made.store.put(a.hash, a.data);
    const again = await made.reopen();
    try {
      assert.equal(await again.get(a.hash), a.data);
      assert.equal(again.totals(), { blocks: 1, bytes: 5000 });
    } finally {
      await made.dispose();
    }
  });

  test.run();
}
