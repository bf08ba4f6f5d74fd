/**
 * `blockstore meta`: wiring only — flags, logger, signals.
 */
import { helpText, parseFlags } from '../lib/cli/flags';
import { serveUntilSignal } from '../lib/cli/serve';
import { createLogger } from '../lib/logger';
import { META_FLAGS, metaConfigFromFlags } from './config';
import { MetaNode } from './meta-node';

export const META_USAGE = 'blockstore meta --id NAME --data-dir DIR [--listen HOST:PORT] [--etcd URL[,URL…]] [flags]  |  blockstore meta snapshot save|restore|info FILE';

export async function main(argv: string[]): Promise<number> {
  // Backups: `blockstore meta snapshot save|restore|info`.
  if (argv[0] === 'snapshot') return (await import('./snapshot-tool')).snapshotMain(argv.slice(1));
  const { values, help } = parseFlags(argv, META_FLAGS);
  if (help) {
    process.stdout.write(
      helpText(META_USAGE, 'Runs a metadata node: master (elected through etcd) or synchronous/asynchronous replica.', META_FLAGS),
    );
    return 0;
  }
  const config = metaConfigFromFlags(values);
  const logger = createLogger({ level: config.logLevel, fields: { role: 'meta', node: config.id } });
  const node = new MetaNode(config, logger);
  await node.start();
  return serveUntilSignal({ role: 'meta', id: config.id, port: node.boundPort }, logger, () => node.drain());
}
