/**
 * Moving blocks between gateways and block daemons.
 *
 * Write: R copies in parallel to the first R daemons in rendezvous order; if
 * one fails, the next in order takes its place; success once W copies are
 * durable (each daemon fsyncs before acknowledging). Fewer than R copies is
 * recorded for repair by the metadata block index (locations).
 * Read: from the recorded locations, then the rest in rendezvous order; the
 * daemon re-hashes every read, and a corrupt or failed copy is skipped.
 */
import { maybeCompress } from '../../lib/compression';
import { BlockstoreError, hasCode } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { ClientPool } from '../../lib/rpc/clients/client-pool';
import { encodePutBlock, type BlockdClient } from '../../lib/rpc/clients/blockd-client';
import type { ClusterView } from '../cluster-view';
import { rankNodes } from '../../lib/placement';

export interface BlockIoOptions {
  replicas: number;
  writeQuorum: number;
  timeoutMs: number;
}

/** What block I/O needs of a daemon's client (a BlockdClient; an in-memory twin in unit tests). */
export type BlockdPeer = Pick<BlockdClient, 'putBlock' | 'getBlock' | 'getStats' | 'close'>;

/** What block I/O needs of the cluster view. */
export type BlockdView = Pick<ClusterView, 'blockds' | 'draining' | 'blockdAddress'>;

export class BlockIo {
  private readonly clients: ClientPool<BlockdPeer>;

  constructor(
    private readonly view: BlockdView,
    private readonly options: BlockIoOptions,
    private readonly logger: Logger,
    /** Opens a client to a daemon (with the gateway's cluster credentials; a twin in unit tests). */
    connect: (address: string) => BlockdPeer,
  ) {
    this.clients = new ClientPool(connect);
  }

  /** Live daemons with room for `size` bytes, ranked for this block. */
  private candidates(hash: string): Array<{ id: string; address: string }> {
    const live = this.view.blockds.filter((n) => !this.view.draining.has(n.id));
    const ranked = rankNodes(hash, live.map((n) => n.id));
    return ranked.map((id) => ({ id, address: live.find((n) => n.id === id)!.address }));
  }

  /**
   * Stores a block on up to R daemons; resolves with the ids holding it.
   * @throws BlockstoreError UNAVAILABLE when fewer than W copies could be made.
   */
  async write(hash: string, data: Buffer, signal?: AbortSignal): Promise<string[]> {
    return (await this.store(hash, data, signal)).nodes;
  }

  /**
   * Stores a block on up to R daemons: the ids holding it, and whether any
   * of them did not have it before (false: every copy was already there).
   * @throws BlockstoreError UNAVAILABLE when fewer than W copies could be made.
   */
  async store(hash: string, data: Buffer, signal?: AbortSignal): Promise<{ nodes: string[]; fresh: boolean }> {
    const { replicas, writeQuorum } = this.options;
    const order = this.candidates(hash);
    if (order.length < writeQuorum) {
      throw new BlockstoreError('UNAVAILABLE', `${order.length} block daemons are live; ${writeQuorum} copies are needed`);
    }
    // Compressed once (where a probe says it pays), sent to every replica.
    const { encoding, payload } = maybeCompress(data);
    // Over gRPC (a daemon without a data port), encoded once for every replica.
    let encoded: Buffer | undefined;
    const wire = () => (encoded ??= encodePutBlock(hash, payload, encoding));
    const stored: string[] = [];
    let fresh = false;
    let next = 0;
    let lastErr: unknown;
    const attempt = async (): Promise<void> => {
      while (next < order.length && stored.length < replicas) {
        const node = order[next++]!;
        try {
          const r = await this.clients.get(node.address).putBlock(hash, payload, { timeoutMs: this.options.timeoutMs, signal, encoding, wire });
          if (!r.alreadyPresent) fresh = true;
          stored.push(node.id);
          return;
        } catch (err) {
          if (signal?.aborted) throw err;
          if (hasCode(err, 'HASH_MISMATCH', 'INVALID_HASH', 'BLOCK_TOO_LARGE', 'INVALID_ARGUMENT')) throw err;
          lastErr = err;
          this.logger.debug('block write failed; trying the next daemon', { node: node.id, err: err as Error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(replicas, order.length) }, attempt));
    if (stored.length < writeQuorum) {
      throw new BlockstoreError('UNAVAILABLE', `block stored on ${stored.length} daemons, ${writeQuorum} needed`, { cause: lastErr });
    }
    return { nodes: stored, fresh };
  }

  /**
   * Reads a block (or a range) from the first healthy copy.
   * @throws BlockstoreError UNAVAILABLE (no copy reachable) or CORRUPT_BLOCK (every copy bad).
   */
  async read(hash: string, locations: string[], range: { offset?: number; length?: number } = {}, signal?: AbortSignal): Promise<Buffer> {
    const live = this.view.blockds;
    const ranked = rankNodes(hash, live.map((n) => n.id));
    const order = [...locations.filter((id) => live.some((n) => n.id === id)), ...ranked.filter((id) => !locations.includes(id))];
    let corrupt = 0;
    let lastErr: unknown;
    for (const id of order) {
      const address = this.view.blockdAddress(id);
      if (!address) continue;
      try {
        const r = await this.clients.get(address).getBlock(hash, range, { timeoutMs: this.options.timeoutMs, signal });
        return r.data;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (hasCode(err, 'CORRUPT_BLOCK')) {
          corrupt++;
          this.logger.warn('corrupt block copy skipped', { hash, node: id });
        }
        lastErr = err;
      }
    }
    if (corrupt > 0 && corrupt === locations.length) throw new BlockstoreError('CORRUPT_BLOCK', `every copy of block ${hash} is corrupt`, { cause: lastErr });
    throw new BlockstoreError('UNAVAILABLE', `no copy of block ${hash} could be read`, { cause: lastErr });
  }

  /** Runs `call` on the daemon at `address` (status probes), through the shared connection to it. */
  at<T>(address: string, call: (c: BlockdPeer) => Promise<T>): Promise<T> {
    return call(this.clients.get(address));
  }

  close(): void {
    this.clients.close();
  }
}
