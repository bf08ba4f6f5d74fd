/** The replica's end of MetaReplication.Follow over gRPC. */
import { internalChannelCredentials, internalChannelOptions } from '../../lib/rpc/credentials';
import type { ClusterCredentials } from '../../lib/security/cluster-credentials';
import type { FollowResponse__Output } from '../../proto/gen/ts/blockstore/internal/v1/FollowResponse';
import { CHANNEL_OPTIONS } from '../../lib/rpc/client';
import { loadProtos } from '../../lib/rpc/proto';
import type { MasterLink, ToReplica } from '../replication/messages';
import { decodeToReplica, encodeToMaster } from './replication-codec';

export const dialMaster = (address: string, credentials?: ClusterCredentials): MasterLink => {
  const { protos } = loadProtos();
  const client = new protos.blockstore.internal.v1.MetaReplication(address, internalChannelCredentials(credentials), { ...CHANNEL_OPTIONS, ...internalChannelOptions(credentials) });
  const call = client.Follow();
  let onMessage: (m: ToReplica) => void = () => {};
  const closeHandlers: Array<(err?: Error) => void> = [];
  let closed = false;
  const finish = (err?: Error) => {
    if (closed) return;
    closed = true;
    for (const h of closeHandlers) h(err);
    call.cancel();
    client.close();
  };
  call.on('data', (r: FollowResponse__Output) => {
    try {
      onMessage(decodeToReplica(r));
    } catch (err) {
      finish(err as Error);
    }
  });
  call.on('error', (err: Error) => finish(err));
  call.on('end', () => finish());
  return {
    send: (msg) => {
      if (!closed) call.write(encodeToMaster(msg));
    },
    onMessage: (h) => (onMessage = h),
    onClose: (h) => closeHandlers.push(h),
    close: () => finish(),
  };
};
