import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCKD_FLAGS, blockdConfigFromFlags } from '../../daemon/config';
import { GATEWAY_FLAGS, gatewayConfigFromFlags } from '../../gateway/config';
import { META_FLAGS, metaConfigFromFlags } from '../../meta/config';
import { parseFlags, UsageError } from '../../lib/cli/flags';
import { BlockstoreError } from '../../lib/errors';
import { parseBytes } from '../../lib/units';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => blockdConfigFromFlags(parseFlags(argv, BLOCKD_FLAGS, env).values);

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BlockstoreError || err instanceof UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a failure');
}

test('defaults, flags over environment', () => {
  const c = parse(['--id', 'b1', '--data-dir', '/tmp/x', '--capacity', '64MiB'], { BLOCKSTORE_CAPACITY: '1GB', BLOCKSTORE_LISTEN: '127.0.0.1:9' });
  assert.is(c.capacityBytes, 64 * 1024 * 1024);
  assert.is(c.listen, '127.0.0.1:9');
  assert.equal(c.etcd, ['http://127.0.0.1:2379']);
  assert.equal(parse(['--id', 'b', '--data-dir', 'd', '--etcd', 'none']).etcd, []);
});

test('messages name the field at fault', () => {
  assert.match(messageOf(() => parse(['--data-dir', 'd'])), '--id');
  assert.match(messageOf(() => parse(['--id', 'b', '--data-dir', 'd', '--listen', 'nohost'])), '--listen');
  assert.match(messageOf(() => parse(['--id', 'b', '--data-dir', 'd', '--capacity', 'lots'])), '--capacity');
  assert.match(messageOf(() => parse(['--id', 'b', '--data-dir', 'd', '--lease-ttl', '1'])), '--lease-ttl');
  assert.match(messageOf(() => parse(['--id', 'b', '--data-dir', 'd', '--etcd', 'ftp://x'])), '--etcd');
  assert.match(messageOf(() => parse(['--id', 'b/../x', '--data-dir', 'd'])), '--id');
  assert.match(messageOf(() => parse(['--bogus'])), 'bogus');
});

test('sizes parse with units', () => {
  assert.is(parseBytes('4096', 'x'), 4096);
  assert.is(parseBytes('2 GiB', 'x'), 2 ** 31);
  assert.is(parseBytes('10GB', 'x'), 1e10);
});

test('every role checks the shared flags alike', () => {
  const roles = [
    (argv: string[]) => blockdConfigFromFlags(parseFlags(argv, BLOCKD_FLAGS, {}).values),
    (argv: string[]) => metaConfigFromFlags(parseFlags(argv, META_FLAGS, {}).values),
    (argv: string[]) => gatewayConfigFromFlags(parseFlags(argv, GATEWAY_FLAGS, {}).values),
  ];
  const base = ['--id', 'n1', '--data-dir', '/tmp/x'];
  for (const parseRole of roles) {
    assert.is(parseRole(base).id, 'n1');
    assert.match(messageOf(() => parseRole([...base, '--log-level', 'loud'])), '--log-level');
    assert.match(messageOf(() => parseRole([...base, '--etcd', 'ftp://x'])), '--etcd');
    assert.match(messageOf(() => parseRole([...base, '--etcd-prefix', 'nolead/'])), '--etcd-prefix');
    assert.match(messageOf(() => parseRole([...base, '--advertise', '127.0.0.1:0'])), '--advertise');
    assert.match(messageOf(() => parseRole([...base, '--http-listen', 'nohost'])), '--http-listen');
  }
  assert.match(messageOf(() => roles[2]!([...base, '--http-listen', 'none'])), '--http-listen');
});

test.run();
