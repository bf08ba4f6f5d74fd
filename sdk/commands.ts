/**
 * The CLI's user commands and their one-line usage, apart from their
 * implementation (sdk/cli.ts) so that `blockstore --help` and `--version`
 * load no client code.
 */
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
  admin: 'admin user add ID --quota SIZE [--name NAME] | admin token issue USER [--admin] [--ttl SECONDS] | admin token revoke TOKEN_ID | admin drain NODE_ID — users, tokens and drains (admin token)',
};
