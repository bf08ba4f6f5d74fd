/**
 * The metadata node's gauges: role, log and replication, pruning. Read at
 * scrape time from the parts that own the numbers.
 */
import type { Metrics } from '../lib/metrics';
import type { Follower } from './replication/follower';
import type { Pruner } from './role/pruner';
import type { RoleManager } from './role/role-manager';
import type { MetaStore } from './store/meta-store';

export function registerMetaMetrics(metrics: Metrics, parts: { store: MetaStore; roles: RoleManager; follower: Follower; pruner: Pruner }): void {
  const { store, roles, follower, pruner } = parts;
  metrics.gauge('blockstore_meta_is_master', () => (roles.role === 'master' ? 1 : 0));
  metrics.gauge('blockstore_meta_epoch', () => roles.epoch);
  metrics.gauge('blockstore_meta_terms_won_total', () => roles.termsWon);
  metrics.gauge('blockstore_meta_log_seq', () => store.last.seq);
  metrics.gauge('blockstore_meta_applied_seq', () => store.applied.seq);
  metrics.gauge('blockstore_meta_log_start', () => store.logStart);
  metrics.gauge('blockstore_meta_log_entries', () => store.last.seq - store.logStart + 1);
  metrics.gauge('blockstore_meta_log_compacted_total', () => store.compacted);
  metrics.gauge('blockstore_meta_versions_pruned_total', () => pruner.versionsPruned);
  metrics.gauge('blockstore_meta_files_dropped_total', () => pruner.filesDropped);
  metrics.gauge('blockstore_meta_blocks_forgotten_total', () => pruner.blocksForgotten);
  metrics.gauge('blockstore_meta_changes_trimmed_total', () => pruner.changesTrimmed);
  metrics.gauge('blockstore_meta_idempotency_keys_forgotten_total', () => pruner.idempotencyKeysForgotten);
  metrics.gauge('blockstore_meta_replication_lag', () => (roles.role === 'master' ? 0 : Math.max(0, follower.commitSeq - store.applied.seq)));
  metrics.gauge('blockstore_meta_sync_replicas', () => roles.view().syncReplicas.length);
  metrics.gauge('blockstore_meta_read_cache_hits_total', () => store.cache.hits);
  metrics.gauge('blockstore_meta_read_cache_misses_total', () => store.cache.misses);
  metrics.gauge('blockstore_meta_read_cache_entries', () => store.cache.size);
}
