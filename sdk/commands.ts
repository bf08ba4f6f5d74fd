/**
 * The CLI's user commands: their one-line usage and the flags each takes,
 * apart from their implementation (sdk/cli.ts) so that `blockstore --help`,
 * `--version` and shell completion load no client code.
 */
import type { FlagSpec } from '../lib/cli/flags';

export const USER_COMMANDS: Record<string, string> = {
  put: 'put LOCAL_FILE|- REMOTE_PATH — upload a file (- reads standard input)',
  get: 'get REMOTE_PATH [LOCAL_FILE|-] — download a file (default: stdout)',
  cat: 'cat REMOTE_PATH — write a file to standard output',
  stat: 'stat REMOTE_PATH — a file\'s size, version, hash and time',
  ls: 'ls [PREFIX] — list files',
  du: 'du [PREFIX] — files and bytes under a prefix',
  rm: 'rm REMOTE_PATH | rm --prefix PREFIX --yes — delete a file, or every file under a prefix (older versions stay restorable)',
  find: 'find [PREFIX] [--name GLOB] [--larger SIZE] [--smaller SIZE] — list files that match',
  mv: 'mv FROM TO — move a file',
  versions: 'versions REMOTE_PATH — list versions',
  restore: 'restore REMOTE_PATH --version N — make version N current again',
  watch: 'watch [PREFIX] — print change events as they happen',
  usage: 'usage — bytes used and quota',
  status: 'status — cluster status (admin token)',
  admin: 'admin user add|create ID --quota SIZE [--name NAME] | admin user list | admin token issue USER [--admin] [--ttl SECONDS] | admin token revoke TOKEN_ID | admin drain NODE_ID — users, tokens and drains (admin token)',
  cp: 'cp LOCAL_FILE REMOTE_PATH | cp -r LOCAL_DIR REMOTE_PREFIX — upload a file, or every file under a directory (files already there unchanged are not sent)',
  mirror: 'mirror LOCAL_DIR REMOTE_PREFIX [--include GLOB]… [--exclude GLOB]… [--remove] [--dry-run] — make a prefix hold a local directory: new and changed files by delta sync, unchanged ones not sent (like mc mirror)',
  profile: 'profile set NAME --address HOST:PORT (--token-file FILE | --token TOKEN) [--ca-file PEM] | profile list | profile use NAME | profile rm NAME — named clusters in the credentials file, chosen with --profile (like mc alias)',
};

/** Where a command finds its cluster; every user command takes these. */
export const CONNECTION_FLAGS: FlagSpec[] = [
  { name: 'address', env: 'BLOCKSTORE_ADDRESS', type: 'string', value: 'HOST:PORT[,…]', help: 'the balancer, or gateways (comma-separated)' },
  { name: 'token', env: 'BLOCKSTORE_TOKEN', type: 'string', value: 'TOKEN', help: 'bearer token' },
  { name: 'token-file', env: 'BLOCKSTORE_TOKEN_FILE', type: 'string', value: 'FILE', help: 'read the token from a file' },
  { name: 'ca-file', env: 'BLOCKSTORE_CA_FILE', type: 'string', value: 'PEM', help: 'connect with TLS, trusting this CA (default: plaintext)' },
  { name: 'cert-file', env: 'BLOCKSTORE_CERT_FILE', type: 'string', value: 'PEM', help: 'a client certificate, for a balancer that requires mutual TLS (with --key-file)' },
  { name: 'key-file', env: 'BLOCKSTORE_KEY_FILE', type: 'string', value: 'PEM', help: 'the client certificate\'s key' },
  { name: 'profile', env: 'BLOCKSTORE_PROFILE', type: 'string', value: 'NAME', help: 'a named cluster from the credentials file (blockstore profile set)' },
  { name: 'credentials', env: 'BLOCKSTORE_CREDENTIALS', type: 'string', value: 'FILE', help: 'JSON {address, token, caFile} or {profiles: {NAME: {…}}, default: NAME} (default ~/.config/blockstore/credentials.json)' },
  { name: 'json', type: 'boolean', help: 'machine-readable output' },
];

const OWN: Record<string, FlagSpec> = Object.fromEntries(
  ([
    { name: 'version', type: 'string', value: 'N', help: 'that version (default: the current one)' },
    { name: 'expected-version', type: 'string', value: 'N', help: 'compare-and-set: fail unless the current version is N (0: must not exist)' },
    { name: 'sync', type: 'boolean', help: 'delta sync: send only the blocks the service lacks' },
    { name: 'cursor', type: 'string', value: 'N', help: 'resume after this cursor' },
    { name: 'quiet', type: 'boolean', help: 'no progress output' },
    { name: 'prefix', type: 'boolean', help: 'the path is a prefix: delete every file under it (needs --yes)' },
    { name: 'yes', type: 'boolean', help: 'with --prefix: do it' },
    { name: 'name', type: 'string', value: 'GLOB', help: 'find: file names matching (* and ?); admin user add: the display name' },
    { name: 'larger', type: 'string', value: 'SIZE', help: 'larger than SIZE (e.g. 10MiB)' },
    { name: 'smaller', type: 'string', value: 'SIZE', help: 'smaller than SIZE' },
    { name: 'quota', type: 'string', value: 'SIZE', help: 'user add: the user\'s quota (e.g. 100GiB)' },
    { name: 'admin', type: 'boolean', help: 'token issue: an admin token' },
    { name: 'ttl', type: 'string', value: 'SECONDS', help: 'token issue: the token expires after this long (default: never)' },
    { name: 'include', type: 'string', multiple: true, value: 'GLOB', help: 'only relative paths matching (* within a folder, ** across, ?); repeatable' },
    { name: 'exclude', type: 'string', multiple: true, value: 'GLOB', help: 'leave out relative paths matching; repeatable' },
    { name: 'remove', type: 'boolean', help: 'delete remote files under the prefix that are gone locally (versions stay restorable)' },
    { name: 'dry-run', type: 'boolean', help: 'say what would be sent or removed; change nothing' },
    { name: 'recursive', short: 'r', type: 'boolean', help: 'a directory: every file under it' },
  ] satisfies FlagSpec[]).map((f) => [f.name, f]),
);

/** Each command's own flags, beside the connection flags. */
const COMMAND_FLAGS: Record<string, string[]> = {
  put: ['expected-version', 'sync', 'quiet'],
  get: ['version', 'quiet'],
  cat: ['version'],
  stat: ['version'],
  ls: [],
  du: [],
  rm: ['expected-version', 'prefix', 'yes'],
  find: ['name', 'larger', 'smaller'],
  mv: [],
  versions: [],
  restore: ['version', 'expected-version'],
  watch: ['cursor'],
  usage: [],
  status: [],
  admin: ['name', 'quota', 'admin', 'ttl'],
  mirror: ['include', 'exclude', 'remove', 'dry-run', 'quiet'],
  cp: ['recursive', 'include', 'exclude', 'dry-run', 'quiet'],
  profile: [],
};

/** The flags `name` accepts: its own, then where to connect. */
export function flagsFor(name: string): FlagSpec[] {
  return [...(COMMAND_FLAGS[name] ?? []).map((f) => OWN[f]!), ...CONNECTION_FLAGS];
}
