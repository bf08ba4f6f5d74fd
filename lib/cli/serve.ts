/**
 * The end of every server's main(): announce the bound port (a JSON line
 * scripts and tests read when they start with port 0), then run until
 * SIGTERM or SIGINT, drain, and resolve to the exit code.
 */
import type { Logger } from '../logger';

export function serveUntilSignal(announce: Record<string, unknown>, logger: Logger, drain: () => Promise<void>): Promise<number> {
  process.stdout.write(`${JSON.stringify({ event: 'listening', ...announce, pid: process.pid })}\n`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info('signal received', { signal });
      drain().then(
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
