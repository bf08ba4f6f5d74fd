/**
 * `blockstore gateway`: wiring only — flags, logger, signals.
 */
import { helpText, parseFlags } from '../lib/cli/flags';
import { serveUntilSignal } from '../lib/cli/serve';
import { createLogger } from '../lib/logger';
import { GATEWAY_FLAGS, gatewayConfigFromFlags } from './config';
import { Gateway } from './gateway';

export const GATEWAY_USAGE = 'blockstore gateway --id NAME [--listen HOST:PORT] [--etcd URL[,URL…]] [flags]';

export async function main(argv: string[]): Promise<number> {
  const { values, help } = parseFlags(argv, GATEWAY_FLAGS);
  if (help) {
    process.stdout.write(helpText(GATEWAY_USAGE, 'Runs a gateway: the public API (blockstore.v1.Files and Admin), stateless.', GATEWAY_FLAGS));
    return 0;
  }
  const config = gatewayConfigFromFlags(values);
  const logger = createLogger({ level: config.logLevel, fields: { role: 'gateway', node: config.id } });
  const gw = new Gateway(config, logger);
  await gw.start();
  return serveUntilSignal({ role: 'gateway', id: config.id, port: gw.boundPort, httpPort: gw.httpPort }, logger, () => gw.drain());
}
