/**
 * Hand-driven replication streams for tests of the follower and the
 * replicator on a real LevelDB: the test plays the other end.
 */
import { silentLogger } from '../../lib/logger';
import { Follower } from '../../meta/replication/follower';
import type { MasterLink, ReplicaLink, ToMaster, ToReplica } from '../../meta/replication/messages';
import type { LogEntry } from '../../meta/state/ops';
import { MetaStore } from '../../meta/store/meta-store';
import { makeTempDir, removeDir } from './temp';

/** A master as a follower sees it: records what the follower sends, delivers what the test says. */
export class FakeMaster {
  sent: ToMaster[] = [];
  closed = false;
  private handler: (m: ToReplica) => void = () => {};
  private closeHandler: () => void = () => {};
  link: MasterLink = {
    send: (m) => this.sent.push(m),
    onMessage: (h) => (this.handler = h),
    onClose: (h) => (this.closeHandler = h),
    close: () => {
      this.closed = true;
      this.closeHandler();
    },
  };
  deliver(m: ToReplica): void {
    this.handler(m);
  }
}

/** A replica's stream as the master sees it, driven by the test. */
export class FakeReplica {
  closed = false;
  sent: ToReplica[] = [];
  private handler: (m: ToMaster) => void = () => {};
  private closeHandler: () => void = () => {};
  link: ReplicaLink = {
    send: async (m) => {
      this.sent.push(m);
    },
    onMessage: (h) => (this.handler = h),
    onClose: (h) => (this.closeHandler = h),
    close: () => {
      if (this.closed) return;
      this.closed = true;
      this.closeHandler();
    },
  };
  constructor(readonly id: string) {}
  /** The replica sends `m`. */
  say(m: ToMaster): void {
    this.handler(m);
  }
  /** An empty replica says hello. */
  hello(epoch: number): void {
    this.handler({ kind: 'hello', nodeId: this.id, address: `${this.id}:1`, last: { seq: 0, epoch: 0 }, applied: { seq: 0, epoch: 0 }, promisedEpoch: epoch, incarnation: `${this.id}-disk` });
  }
  ack(seq: number): void {
    this.handler({ kind: 'ack', seq });
  }
}

/** A log entry creating user `id`. */
export const userEntry = (seq: number, epoch: number, id = `u${seq}`): LogEntry => ({
  seq, epoch, op: { type: 'createUser', userId: id, name: id, quotaBytes: 1, time: 't' },
});

/** A follower of `leader` on `store`, its stream to a fake master. */
export async function follow(store: MetaStore, leader: { id: string; epoch: number }): Promise<{ follower: Follower; m: FakeMaster }> {
  const masters: FakeMaster[] = [];
  const follower = new Follower(store, 'r1', () => '127.0.0.1:1', () => {
    const fake = new FakeMaster();
    masters.push(fake);
    return fake.link;
  }, silentLogger);
  await follower.follow({ id: leader.id, address: 'x', epoch: leader.epoch, leaseId: '1' });
  return { follower, m: masters[0]! };
}

/** A MetaStore in a temp dir for the span of `fn`. */
export async function withStore(fn: (store: MetaStore, dir: string) => Promise<void>): Promise<void> {
  const dir = makeTempDir('meta-store');
  const store = new MetaStore(dir);
  await store.open();
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    removeDir(dir);
  }
}
