/**
 * A block daemon as block I/O sees it: block bodies over its data port
 * (HTTP/1.1, lib/http/block-data.ts) when its registration names one, and
 * over gRPC otherwise (a daemon started with `--data-listen none`); every
 * other call over gRPC.
 */
import type { BlockDataClient } from '../../lib/http/block-data-client';
import type { CallOpts } from '../../lib/rpc/client';
import type { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import type { ClientPool } from '../../lib/rpc/clients/client-pool';
import type { BlockdPeer } from './block-io';

export class BlockdTransport implements BlockdPeer {
  constructor(
    private readonly rpc: BlockdClient,
    /** The daemon's data address as last registered ('' or undefined: none); read on every call, so a restarted daemon's new port is followed. */
    private readonly dataAddress: () => string | undefined,
    /** Data-port clients, shared by every transport of the gateway (closed by its owner). */
    private readonly data: ClientPool<BlockDataClient>,
  ) {}

  putBlock(hash: string, payload: Uint8Array, opts?: CallOpts & { encoding?: '' | 'br'; wire?: () => Buffer }): Promise<{ alreadyPresent: boolean; size: number }> {
    const at = this.dataAddress();
    return at ? this.data.get(at).putBlock(hash, payload, opts) : this.rpc.putBlock(hash, payload, opts);
  }

  getBlock(hash: string, range: { offset?: number; length?: number } = {}, opts?: CallOpts): Promise<{ data: Buffer; blockSize: number }> {
    const at = this.dataAddress();
    return at ? this.data.get(at).getBlock(hash, range, opts) : this.rpc.getBlock(hash, range, opts);
  }

  getStats(opts?: CallOpts) {
    return this.rpc.getStats(opts);
  }

  close(): void {
    this.rpc.close();
  }
}
