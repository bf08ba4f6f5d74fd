/**
 * The one entry point: `blockstore <command> [flags]`, a subcommand per role
 * and per user command (like `weed master|volume` or `minio server`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../lib/cli/flags';
import { BlockstoreError } from '../lib/errors';
import { USER_COMMANDS } from '../sdk/commands';
import { ROOT } from '../lib/root';

// grpc-js passes an IP-literal target to TLS as the server name; Node warns
// (DEP0123) though verification against the certificate's IP SAN is right.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  blockd: { summary: 'run a block daemon', run: async (argv) => (await import('../daemon/main')).main(argv) },
  gateway: { summary: 'run a gateway (the public API)', run: async (argv) => (await import('../gateway/main')).main(argv) },
  cluster: { summary: 'the local cluster: up, down, clean, status, scale, logs', run: async (argv) => (await import('../cluster/local/cli')).main(argv) },
  qas: { summary: 'run the quality scenarios against the local cluster and report', run: async (argv) => (await import('../cluster/qas/cli')).main(argv) },
  meta: { summary: 'run a metadata node (master or replica, elected through etcd)', run: async (argv) => (await import('../meta/main')).main(argv) },
};

COMMANDS.completion = { summary: 'print a shell completion script: completion bash|zsh (source <(blockstore completion bash))', run: completion };

for (const [name, summary] of Object.entries(USER_COMMANDS)) {
  COMMANDS[name] = { summary: summary.split(' — ')[1] ?? summary, run: async (argv) => (await import('../sdk/cli')).runUserCommand(name, argv) };
}

/** `blockstore completion bash|zsh`: commands, subcommands and flags, from the same tables as --help. */
async function completion(argv: string[]): Promise<number> {
  const shell = argv[0];
  if (shell !== 'bash' && shell !== 'zsh') throw new UsageError('completion takes bash or zsh');
  const [{ completionScript }, { flagsFor }, cluster, qas, meta, gateway, blockd] = await Promise.all([
    import('../lib/cli/completion'), import('../sdk/commands'), import('../cluster/local/cli'), import('../cluster/qas/cli'),
    import('../meta/config'), import('../gateway/config'), import('../daemon/config'),
  ]);
  const flags = (specs: Array<{ name: string }>) => specs.map((f) => `--${f.name}`);
  const SUBCOMMANDS: Record<string, string[]> = {
    cluster: ['up', 'down', 'clean', 'status', 'scale', 'logs', 'envoy-eds'],
    admin: ['user', 'token', 'drain'],
    profile: ['set', 'list', 'use', 'rm'],
    completion: ['bash', 'zsh'],
  };
  const table: Record<string, string[]> = {
    cluster: flags(cluster.FLAGS), qas: flags(qas.FLAGS), meta: flags(meta.META_FLAGS), gateway: flags(gateway.GATEWAY_FLAGS), blockd: flags(blockd.BLOCKD_FLAGS), completion: [],
  };
  for (const name of Object.keys(USER_COMMANDS)) table[name] = flags(flagsFor(name));
  for (const [name, subs] of Object.entries(SUBCOMMANDS)) table[name] = [...subs, ...(table[name] ?? [])];
  process.stdout.write(completionScript(shell, table));
  return 0;
}

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `usage: blockstore <command> [flags]\n       blockstore --version\n\ncommands:\n${rows.join('\n')}\n\nRun 'blockstore <command> --help' for a command's flags and environment variables.\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`blockstore ${pkg.version} (node ${process.versions.node})\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`blockstore: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof BlockstoreError && err.code === 'INVALID_ARGUMENT')) {
      process.stderr.write(`blockstore ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`blockstore ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

run(process.argv.slice(2)).then((code) => process.exit(code));
