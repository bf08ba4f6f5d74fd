/**
 * What the metadata tables hold (JSON values) and their keys. Keys sort so
 * that listings are range scans: files by path within a namespace, versions
 * by number within a file, change events by position within a namespace.
 */
export interface UserRec {
  id: string;
  name: string;
  quotaBytes: number;
  usedBytes: number;
  createdAt: string;
}

export interface TokenRec {
  tokenId: string;
  tokenHash: string;
  userId: string;
  scope: 'user' | 'admin';
  createdAt: string;
  /** Refused from this instant (ms since the epoch); absent: never expires. */
  expiresAtMs?: number;
}

export interface BlockRefRec {
  hash: string;
  size: number;
}

export interface VersionRec {
  path: string;
  version: number;
  size: number;
  contentHash: string;
  author: string;
  time: string;
  deleted: boolean;
  blocks: BlockRefRec[];
  movedFrom: string;
  /** Log position that created it. */
  seq: number;
}

/** The head of a file: its current version (possibly a delete marker). */
export interface FileRec {
  path: string;
  version: number;
  size: number;
  deleted: boolean;
}

/** Global block index: one entry per distinct block in the cluster. */
export interface BlockRec {
  size: number;
  /** References from versions, all namespaces. */
  refs: number;
  /** Block daemon ids holding a copy. */
  locations: string[];
  /** Namespaces holding a staged (uploaded, uncommitted) copy of it; absent: none. */
  staged?: number;
  /** When pruning took its last reference (ISO time); cleared by a new reference. */
  freedAt?: string;
}

/** Per-namespace block index: the dedup domain. */
export interface NsBlockRec {
  size: number;
  refs: number;
}

/** A block uploaded into a namespace (PutBlocks) and not yet committed. */
export interface StagedRec {
  size: number;
  nodes: string[];
  time: string;
}

export interface IdemRec {
  kind: 'commit' | 'delete' | 'move';
  path: string;
  version: number;
  seq: number;
  /** When the key was first used (absent on records written before keys expired). */
  time?: string;
}

/** Per-namespace counters: the next change cursor, the oldest one still kept. */
export interface NsCounterRec {
  next: number;
  first?: number;
}

export interface ChangeRec {
  cursor: number;
  kind: 'put' | 'delete' | 'move';
  path: string;
  version: number;
  size: number;
  fromPath: string;
  time: string;
}

const SEP = '\u0000';
const pad = (n: number, width: number) => n.toString().padStart(width, '0');

export const TableKeys = {
  user: (id: string) => `t:u:${id}`,
  token: (hash: string) => `t:tok:${hash}`,
  tokenId: (id: string) => `t:tid:${id}`,
  file: (ns: string, path: string) => `t:f:${ns}${SEP}${path}`,
  filePrefix: (ns: string, prefix: string) => `t:f:${ns}${SEP}${prefix}`,
  version: (ns: string, path: string, v: number) => `t:v:${ns}${SEP}${path}${SEP}${pad(v, 12)}`,
  versionPrefix: (ns: string, path: string) => `t:v:${ns}${SEP}${path}${SEP}`,
  block: (hash: string) => `t:b:${hash}`,
  nsBlock: (ns: string, hash: string) => `t:nb:${ns}:${hash}`,
  staged: (ns: string, hash: string) => `t:sb:${ns}:${hash}`,
  idem: (ns: string, key: string) => `t:i:${ns}${SEP}${key}`,
  change: (ns: string, cursor: number) => `t:c:${ns}${SEP}${pad(cursor, 16)}`,
  changePrefix: (ns: string) => `t:c:${ns}${SEP}`,
  /** Namespace-wide counters (next change cursor). */
  nsCounter: (ns: string) => `t:n:${ns}`,
  /** The collection fence: { cutoffMs }, the highest garbage collection announced. */
  gcFence: 't:gcfence',
  /** Everything replicated lives under "t:". */
  tablesPrefix: 't:',
} as const;

export function pathFromFileKey(key: string): string {
  return key.slice(key.indexOf(SEP) + 1);
}

const FILE_KEY = TableKeys.file('', '').slice(0, -SEP.length); // t:f:
const VERSION_KEY = TableKeys.versionPrefix('', '').slice(0, -2 * SEP.length); // t:v:

/** The file a head (t:f:) or version (t:v:) key belongs to; undefined for any other key. */
export function fileOfKey(key: string): { ns: string; path: string } | undefined {
  let rest: string;
  if (key.startsWith(FILE_KEY)) rest = key.slice(FILE_KEY.length);
  else if (key.startsWith(VERSION_KEY)) {
    rest = key.slice(VERSION_KEY.length);
    rest = rest.slice(0, rest.lastIndexOf(SEP));
  } else return undefined;
  const sep = rest.indexOf(SEP);
  return sep < 0 ? undefined : { ns: rest.slice(0, sep), path: rest.slice(sep + 1) };
}
