/**
 * Draining a node (Admin.DrainNode and the console): only a node that is in
 * membership now may be drained. A block daemon then has its blocks copied
 * away by the repair worker before it leaves any block's locations; a
 * gateway stops taking new calls.
 */
import { BlockstoreError } from '../../lib/errors';
import type { ClusterView } from '../cluster-view';

/** @throws BlockstoreError NOT_FOUND when no live node has that id */
export async function drainNode(view: ClusterView, requestDrain: (id: string) => Promise<void>, nodeId: string): Promise<void> {
  await view.refresh();
  const known = [...view.blockds, ...view.gateways, ...view.metas].some((n) => n.id === nodeId);
  if (!known) throw new BlockstoreError('NOT_FOUND', `no live node ${JSON.stringify(nodeId)}`);
  await requestDrain(nodeId);
}
