import { MemoryChunkStore } from '../../daemon/store/memory-chunk-store';
import { LevelChunkStore } from '../../daemon/store/level-chunk-store';
import { makeTempDir, removeDir } from '../harness/temp';
import { chunkStoreConformance } from './chunk-store.conformance';

chunkStoreConformance({
  name: 'memory',
  async make() {
    const store = new MemoryChunkStore();
    await store.open();
    return { store, dispose: () => store.close() };
  },
});

chunkStoreConformance({
  name: 'leveldb',
  async make() {
    const dir = makeTempDir('chunks');
    let store = new LevelChunkStore(dir);
    await store.open();
    return {
      store,
      async reopen() {
        await store.close();
        store = new LevelChunkStore(dir);
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
