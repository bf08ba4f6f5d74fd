/**
 * Errors as other gRPC ecosystems read them: the google.rpc.Status with an
 * ErrorInfo that every error carries in grpc-status-details-bin, checked
 * against a real protobuf decoder reading proto/google/rpc/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { BlockstoreError } from '../../lib/errors';
import { silentLogger } from '../../lib/logger';
import { decodeRichStatus, encodeRichStatus, STATUS_DETAILS_KEY } from '../../lib/rpc/rich-status';
import { toServiceError } from '../../lib/rpc/status';
import { ROOT } from '../../lib/root';

function protobufRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? join(require.resolve('protobufjs/package.json'), '..', target) : join(ROOT, 'proto', target));
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return root;
}

test('a domain error carries google.rpc.Status{code, message, [ErrorInfo{reason, domain, metadata}]}', () => {
  const err = new BlockstoreError('VERSION_CONFLICT', 'photos/a.jpg is at version 7, not 6', { details: { path: 'photos/a.jpg', currentVersion: '7' } });
  const st = toServiceError(err, silentLogger, 'PutFile');
  const raw = st.metadata!.get(STATUS_DETAILS_KEY)[0] as Buffer;
  assert.ok(Buffer.isBuffer(raw));
  // Read by protobufjs from the .proto files shipped for other languages.
  const root = protobufRoot();
  const status = root.lookupType('google.rpc.Status').decode(raw) as unknown as { code: number; message: string; details: Array<{ type_url: string; value: Uint8Array }> };
  assert.is(status.code, 9, 'FAILED_PRECONDITION, as the call status');
  assert.is(status.message, err.message);
  assert.is(status.details.length, 1);
  assert.is(status.details[0]!.type_url, 'type.googleapis.com/google.rpc.ErrorInfo');
  const info = root.lookupType('google.rpc.ErrorInfo').decode(status.details[0]!.value) as unknown as { reason: string; domain: string; metadata: Record<string, string> };
  assert.equal({ reason: info.reason, domain: info.domain, metadata: { ...info.metadata } }, { reason: 'VERSION_CONFLICT', domain: 'blockstore', metadata: { path: 'photos/a.jpg', currentVersion: '7' } });
  // And our own reader agrees.
  assert.equal(decodeRichStatus(raw), { code: 9, message: err.message, errorInfo: { reason: 'VERSION_CONFLICT', domain: 'blockstore', metadata: { path: 'photos/a.jpg', currentVersion: '7' } } });
});

test('an unexpected error is INTERNAL there too, with nothing of its message', () => {
  const st = toServiceError(new Error('secret stack detail'), silentLogger, 'GetFile');
  const s = decodeRichStatus(st.metadata!.get(STATUS_DETAILS_KEY)[0] as Buffer);
  assert.is(s.code, 13);
  assert.is(s.errorInfo?.reason, 'INTERNAL');
  assert.not.match(s.message, 'secret');
});

test('round trip of long, multi-byte and empty fields; malformed input is refused', () => {
  const s = { code: 5, message: 'ü'.repeat(300), errorInfo: { reason: 'NOT_FOUND', domain: 'blockstore', metadata: { a: '', 'b-c': 'x'.repeat(200) } } };
  assert.equal(decodeRichStatus(encodeRichStatus(s)), s);
  assert.throws(() => decodeRichStatus(encodeRichStatus(s).subarray(0, 50)));
});

test.run();
