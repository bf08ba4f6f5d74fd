import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError } from '../../lib/errors';
import { createLogger } from '../../lib/logger';

const test = suite('logger');

function capture(): { lines: Array<Record<string, any>>; logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, any>> = [];
  return { lines, logger: createLogger({ write: (l) => lines.push(JSON.parse(l)) }) };
}

test('an error is logged with its name, message, code and stack, and what it wraps', () => {
  const { lines, logger } = capture();
  const inner = new TypeError("Cannot read properties of undefined (reading 'size')");
  logger.error('internal error', { err: new BlockstoreError('INTERNAL', 'internal error', { cause: inner }) });
  const err = lines[0]!.err;
  assert.is(err.code, 'INTERNAL');
  assert.match(err.stack, 'internal error');
  assert.is(err.cause.name, 'TypeError');
  assert.match(err.cause.message, "reading 'size'");
  assert.match(err.cause.stack, 'logger.test');
});

test('credentials never reach a line: tokens keep their id, secret fields are blanked', () => {
  const { lines, logger } = capture();
  logger.warn('call', { authorization: 'Bearer bst_0123456789abcdef_s3cr3t', note: 'used bst_0123456789abcdef_s3cr3t' });
  const line = JSON.stringify(lines[0]);
  assert.not.match(line, 's3cr3t');
  assert.match(line, 'bst_0123456789abcdef_[redacted]');
});

test('lines under the level are dropped; child loggers add their fields', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) }).child({ component: 'x' });
  logger.info('dropped');
  logger.warn('kept');
  assert.is(lines.length, 1);
  assert.is(JSON.parse(lines[0]!).component, 'x');
});

test.run();
