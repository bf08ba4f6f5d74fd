/**
 * `blockstore blockd`: wiring only — flags, logger, signals.
 */
import { helpText, parseFlags } from '../lib/cli/flags';
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
  // The address line is for scripts and tests that start with port 0.
  process.stdout.write(`${JSON.stringify({ event: 'listening', role: 'blockd', id: config.id, port: daemon.boundPort, pid: process.pid })}\n`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info('signal received', { signal });
      daemon.drain().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error('drain failed', { err: err as Error });
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
