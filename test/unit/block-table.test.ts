import { MemoryBlockTable } from '../../daemon/store/memory-block-table';
import { LevelBlockTable } from '../../daemon/store/level-block-table';
import { makeTempDir, removeDir } from '../harness/temp';
import { chunkStoreConformance } from './block-table.conformance';

chunkStoreConformance({
  name: 'memory',
  async make() {
    const store = new MemoryBlockTable();
    await store.open();
    return { store, dispose: () => store.close() };
  },
});

chunkStoreConformance({
  name: 'leveldb',
  async make() {
    const dir = makeTempDir('chunks');
    let store = new LevelBlockTable(dir);
    await store.open();
    return {
      store,
      async reopen() {
        await store.close();
        store = new LevelBlockTable(dir);
        await store.open();
        return store;
      },
      async dispose() {
        await store.close();
        removeDir(dir);
      },
    };
  },
});
