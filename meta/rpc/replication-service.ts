/** gRPC adapter for blockstore.internal.v1.MetaReplication (master side). */
import type * as grpc from '@grpc/grpc-js';
import type { FollowRequest__Output } from '../../proto/gen/ts/blockstore/internal/v1/FollowRequest';
import type { FollowResponse } from '../../proto/gen/ts/blockstore/internal/v1/FollowResponse';
import type { MetaReplicationHandlers } from '../../proto/gen/ts/blockstore/internal/v1/MetaReplication';
import type { ReplicaLink, ToMaster } from '../replication/messages';
import { decodeToMaster, encodeToReplica } from './replication-codec';

export function replicationHandlers(node: { attachReplica(link: ReplicaLink): void }): MetaReplicationHandlers {
  return {
    Follow: (call: grpc.ServerDuplexStream<FollowRequest__Output, FollowResponse>) => {
      let onMessage: (m: ToMaster) => void = () => {};
      const closeHandlers: Array<() => void> = [];
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        for (const h of closeHandlers) h();
        call.end();
      };
      call.on('data', (req: FollowRequest__Output) => {
        try {
          onMessage(decodeToMaster(req));
        } catch {
          close();
        }
      });
      call.on('end', close);
      call.on('error', close);
      call.on('cancelled', close);
      call.on('close', close);
      const link: ReplicaLink = {
        send: (msg) =>
          new Promise<void>((resolve) => {
            if (closed) return resolve();
            const ok = call.write(encodeToReplica(msg));
            if (ok) resolve();
            else call.once('drain', () => resolve());
          }),
        onMessage: (h) => (onMessage = h),
        onClose: (h) => closeHandlers.push(h),
        close,
      };
      node.attachReplica(link);
    },
  };
}
