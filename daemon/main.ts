/**
 * `blockstore blockd`: wiring only — flags, logger, signals.
 */
import { helpText, parseFlags } from '../lib/cli/flags';
import { serveUntilSignal } from '../lib/cli/serve';
import { createLogger } from '../lib/logger';
import { BlockDaemon } from './block-daemon';
import { BLOCKD_FLAGS, blockdConfigFromFlags } from './config';

export const BLOCKD_USAGE = 'blockstore blockd --id NAME --data-dir DIR [--listen HOST:PORT] [--etcd URL[,URL…]] [flags]';

export async function main(argv: string[]): Promise<number> {
  const { values, help } = parseFlags(argv, BLOCKD_FLAGS);
  if (help) {
    process.stdout.write(helpText(BLOCKD_USAGE, 'Runs a block daemon: content-addressed blocks in LevelDB, served over gRPC, registered in etcd.', BLOCKD_FLAGS));
    return 0;
  }
  const config = blockdConfigFromFlags(values);
  const logger = createLogger({ level: config.logLevel, fields: { role: 'blockd', node: config.id } });
  const daemon = new BlockDaemon(config, logger);
  await daemon.start();
  return serveUntilSignal({ role: 'blockd', id: config.id, port: daemon.boundPort }, logger, () => daemon.drain());
}
