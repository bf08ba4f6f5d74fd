/**
 * `blockstore meta snapshot save|restore|info`: backing up the metadata and
 * bringing it back (like `etcdctl snapshot save|restore`).
 *
 * save FILE      asks a metadata node (the master, found through etcd, or
 *                --address) for one consistent copy of its tables and writes
 *                it to FILE: written to FILE.tmp, fsync'd, renamed.
 * restore FILE --data-dir DIR
 *                makes a metadata node's data directory from FILE (offline;
 *                DIR must not hold data). Started, that node declares the
 *                restored position the cluster's before it campaigns (a
 *                sealed synchronous set record), leads, and the other
 *                metadata nodes — their data directories emptied — bootstrap
 *                from it. With --etcd the record is written at once, for a
 *                cluster whose etcd was lost too.
 * info FILE      checks FILE whole and says what it holds.
 *
 * The file: JSON lines. First {format, version, applied, takenAt, from},
 * then one [key, value] per table pair, then {end, pairs, sha256} over every
 * line before it: a truncated or altered file is refused.
 * Blocks are not in it: they stay on the block daemons. Files written after
 * the backup are not restored (their blocks are collected as garbage);
 * blocks of files deleted after it may have been collected already.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { helpText, parseFlags, UsageError, type FlagSpec } from '../lib/cli/flags';
import { MetaClient } from '../lib/rpc/clients/meta-client';
import { loadClusterCredentials } from '../lib/security/cluster-credentials';
import { MetaElection } from '../coordination/meta-election';
import { silentLogger } from '../lib/logger';
import { MetaStore, type Position } from './store/meta-store';

const FORMAT = 'blockstore-meta-snapshot';
const BATCH = 1000;

const FLAGS: FlagSpec[] = [
  { name: 'address', type: 'string', value: 'HOST:PORT', help: 'save: this metadata node (default: the master, found through --etcd)' },
  { name: 'etcd', env: 'BLOCKSTORE_ETCD', type: 'string', value: 'URL[,URL…]', help: 'save: where to find the master; restore: write the restored position into etcd at once (a cluster whose etcd was lost too)' },
  { name: 'etcd-prefix', env: 'BLOCKSTORE_ETCD_PREFIX', type: 'string', value: 'PREFIX', default: '/blockstore/', help: 'the cluster\'s keys in etcd' },
  { name: 'data-dir', type: 'string', value: 'DIR', help: 'restore: the new metadata node\'s data directory (must not hold data)' },
  { name: 'cluster-secret-file', env: 'BLOCKSTORE_CLUSTER_SECRET_FILE', type: 'string', value: 'FILE', help: 'save: the cluster secret (or mutual TLS below)' },
  { name: 'tls-ca', env: 'BLOCKSTORE_TLS_CA', type: 'string', value: 'PEM', help: 'save: the cluster CA' },
  { name: 'tls-cert', env: 'BLOCKSTORE_TLS_CERT', type: 'string', value: 'PEM', help: 'save: a node certificate' },
  { name: 'tls-key', env: 'BLOCKSTORE_TLS_KEY', type: 'string', value: 'PEM', help: 'save: its key' },
];

const USAGE = 'blockstore meta snapshot save FILE [--etcd URL | --address HOST:PORT] | restore FILE --data-dir DIR [--etcd URL] | info FILE';

interface Header {
  format: string;
  version: number;
  applied: Position;
  takenAt: string;
  from: string;
}

export async function snapshotMain(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(argv, FLAGS);
  const [verb, file] = positionals;
  if (help || !verb) {
    process.stdout.write(helpText(USAGE, 'Backs up the metadata (save), checks a backup (info), or makes a metadata node\'s data directory from one (restore).', FLAGS));
    return help ? 0 : 2;
  }
  if (!file) throw new UsageError(`usage: ${USAGE}`);
  const str = (k: string) => (typeof values[k] === 'string' && values[k] !== '' ? (values[k] as string) : undefined);
  switch (verb) {
    case 'save': {
      const credentials = loadClusterCredentials({ secretFile: str('cluster-secret-file'), tlsCa: str('tls-ca'), tlsCert: str('tls-cert'), tlsKey: str('tls-key') });
      const address = str('address') ?? (await masterAddress(str('etcd'), str('etcd-prefix')!));
      const h = await save(file, address, credentials);
      process.stdout.write(`saved ${h.pairs} table entries at position ${h.applied.seq} (epoch ${h.applied.epoch}) from ${address} to ${file}\n`);
      return 0;
    }
    case 'info': {
      const { header, pairs } = await check(file);
      process.stdout.write(`${file}: position ${header.applied.seq} (epoch ${header.applied.epoch}), ${pairs} table entries, taken ${header.takenAt} from ${header.from}; whole\n`);
      return 0;
    }
    case 'restore': {
      const dir = str('data-dir');
      if (!dir) throw new UsageError('restore needs --data-dir DIR');
      const { header, pairs } = await restore(file, dir);
      process.stdout.write(`restored ${pairs} table entries at position ${header.applied.seq} into ${dir}\n`);
      const etcd = str('etcd');
      if (etcd) {
        const declared = await declare(etcd, str('etcd-prefix')!, header);
        process.stdout.write(declared ? 'etcd: the restored position is the cluster\'s; start this node with the others\' data directories empty\n' : 'etcd: a master leads; stop the cluster first\n');
        return declared ? 0 : 1;
      }
      process.stdout.write('start a metadata node on it, with the other metadata nodes\' data directories empty: it declares the restored position before it campaigns\n');
      return 0;
    }
    default:
      throw new UsageError(`usage: ${USAGE}`);
  }
}

async function masterAddress(etcd: string | undefined, prefix: string): Promise<string> {
  if (!etcd) throw new UsageError('save needs --etcd (to find the master) or --address');
  const election = new MetaElection({ etcd: etcd.split(','), prefix, ttlSeconds: 2, logger: silentLogger });
  try {
    const leader = await election.readLeader();
    if (!leader) throw new UsageError('no metadata master leads now (etcd has no leader key); give --address');
    return leader.address;
  } finally {
    election.close();
  }
}

/** Streams the tables from `address` into `file` (via FILE.tmp, fsync'd, renamed). */
export async function save(file: string, address: string, credentials: ReturnType<typeof loadClusterCredentials>): Promise<{ applied: Position; pairs: number }> {
  const client = new MetaClient(address, credentials);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  const hash = createHash('sha256');
  const line = (obj: unknown) => {
    const text = `${JSON.stringify(obj)}\n`;
    hash.update(text);
    writeSync(fd, text);
  };
  let applied: Position | undefined;
  let pairs = 0;
  let ended = false;
  try {
    const status = await client.status();
    for await (const part of client.saveSnapshot()) {
      if (part.first) {
        applied = { seq: Number(part.appliedSeq), epoch: Number(part.appliedEpoch) };
        line({ format: FORMAT, version: 1, applied, takenAt: new Date().toISOString(), from: status.nodeId } satisfies Header);
      }
      if (!applied) throw new Error('the node sent table entries before its position');
      for (const kv of part.pairs) {
        line([kv.key, Buffer.from(kv.value).toString('utf8')]);
        pairs++;
      }
      if (part.last) ended = true;
    }
    if (!applied || !ended) throw new Error('the snapshot stream ended early');
    writeSync(fd, `${JSON.stringify({ end: true, pairs, sha256: hash.digest('hex') })}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
    return { applied, pairs };
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      /* closed */
    }
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    client.close();
  }
}

/** Reads `file` through, calling `onPairs` with batches; refuses a truncated or altered file. */
async function read(file: string, onPairs: (pairs: Array<{ key: string; value: string }>) => Promise<void>): Promise<{ header: Header; pairs: number }> {
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const hash = createHash('sha256');
  let header: Header | undefined;
  let end: { pairs: number; sha256: string } | undefined;
  let batch: Array<{ key: string; value: string }> = [];
  let pairs = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (end) throw new UsageError(`${file}: data after the end mark`);
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      throw new UsageError(`${file}: damaged (a line that is not JSON: truncated or altered)`);
    }
    if (!header) {
      header = obj as Header;
      if (header.format !== FORMAT || header.version !== 1) throw new UsageError(`${file}: not a blockstore metadata snapshot`);
    } else if (!Array.isArray(obj)) {
      end = obj as { pairs: number; sha256: string };
      continue;
    } else {
      batch.push({ key: String(obj[0]), value: String(obj[1]) });
      pairs++;
      if (batch.length >= BATCH) {
        await onPairs(batch);
        batch = [];
      }
    }
    hash.update(`${text}\n`);
  }
  if (!header || !end) throw new UsageError(`${file}: truncated (no end mark)`);
  if (end.pairs !== pairs || end.sha256 !== hash.digest('hex')) throw new UsageError(`${file}: damaged (its checksum or count does not match)`);
  if (batch.length) await onPairs(batch);
  return { header, pairs };
}

/** Checks `file` whole without writing anything. */
export function check(file: string): Promise<{ header: Header; pairs: number }> {
  return read(file, async () => {});
}

/**
 * Makes `dir` a metadata data directory holding `file`'s tables at its
 * position (its epoch reset to 0: the cluster's next terms are numbered
 * from etcd, whatever they were), marked restored. The file is checked
 * whole first; `dir` must not hold data.
 */
export async function restore(file: string, dir: string): Promise<{ header: Header; pairs: number }> {
  await check(file);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${dir} holds data: restore into an empty or new directory`);
  const store = new MetaStore(resolve(dir), 0);
  await store.open();
  try {
    await store.beginSnapshot();
    const r = await read(file, (pairs) => store.writeSnapshotPart(pairs));
    await store.finishSnapshot({ seq: r.header.applied.seq, epoch: 0 });
    await store.markRestored({ ...r.header.applied, takenAt: r.header.takenAt, file: resolve(file) });
    return r;
  } finally {
    await store.close();
  }
}

/** Writes the restored position into etcd as a sealed record (only while no master leads). */
async function declare(etcd: string, prefix: string, header: Header): Promise<boolean> {
  const election = new MetaElection({ etcd: etcd.split(','), prefix, ttlSeconds: 2, logger: silentLogger });
  try {
    return await election.declareRestored({ epoch: 0, master: '', members: [], committed: { seq: header.applied.seq, epoch: 0 }, sealed: true });
  } finally {
    election.close();
  }
}
