/**
 * The balancer never wedges: a client that stops reading its downloads, or
 * mixes uploads and downloads on one connection, must not stall calls for
 * good — its own or anyone else's. HAProxy's HTTP/2 mux stops reading a
 * whole connection while one stream's buffer is full, so the config keeps
 * each client's gateway connections to itself (`http-reuse never`) and
 * uploads on gateway connections of their own (`UPLOAD_METHODS`); see
 * cluster/local/haproxy.ts. Real cluster (`cluster up`: HAProxy, two
 * gateways), plain grpc-js clients, downloads paused by not reading.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { StateDir } from '../../cluster/local/layout';
import { BlockstoreClient } from '../../sdk/client';
import { localClusterDown, localClusterUp, loggedErrors } from '../harness/local-cluster';
import { metadataWith, pb, rawClient, unaryRaw } from '../harness/raw-grpc';

const test = suite('balancer: no call waits on another client or on a paused download');
const F = '/blockstore.v1.Files/';
/** Big enough that a paused download fills every buffer between its gateway and the client. */
const BIG = 48 * 1024 * 1024;
const identity = (b: Buffer) => b;

let dir: StateDir;
let address = '';
let md: grpc.Metadata;

/** The length of a GetFileResponse's data (field 2, length-delimited); 0 for the info message. */
function dataBytes(m: Buffer): number {
  if (m[0] !== 0x12) return 0;
  let n = 0;
  for (let i = 1, shift = 0; i < m.length; i++, shift += 7) {
    n += (m[i]! & 0x7f) * 2 ** shift;
    if (!(m[i]! & 0x80)) return n;
  }
  return n;
}

/** A GetFile that reads its first message, then stops reading until `resume`; `done` settles with the bytes read or the status. */
function pausedDownload(client: grpc.Client, path: string): { firstMessage: Promise<void>; resume: () => void; done: Promise<{ status: string; bytes: number }> } {
  const call = client.makeServerStreamRequest(F + 'GetFile', identity, identity, pb.bytes(1, path), md, { deadline: Date.now() + 60_000 });
  let bytes = 0;
  let first!: () => void;
  const firstMessage = new Promise<void>((r) => (first = r));
  let resumed = false;
  call.on('data', (m: Buffer) => {
    bytes += dataBytes(m);
    first();
    if (!resumed) call.pause();
  });
  const done = new Promise<{ status: string; bytes: number }>((resolve) => {
    call.on('error', (err: grpc.ServiceError) => resolve({ status: grpc.status[err.code] ?? String(err.code), bytes }));
    call.on('end', () => resolve({ status: 'OK', bytes }));
  });
  return {
    firstMessage,
    resume: () => {
      resumed = true;
      call.resume();
    },
    done,
  };
}

/** A whole GetFile, read as it comes. */
function download(client: grpc.Client, path: string, timeoutMs: number): Promise<{ status: string; data: Buffer }> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(F + 'GetFile', identity, identity, pb.bytes(1, path), md, { deadline: Date.now() + timeoutMs });
    const parts: Buffer[] = [];
    call.on('data', (m: Buffer) => {
      const n = dataBytes(m);
      if (n) parts.push(m.subarray(m.length - n));
    });
    call.on('error', (err: grpc.ServiceError) => resolve({ status: `${grpc.status[err.code]}: ${err.details}`, data: Buffer.concat(parts) }));
    call.on('end', () => resolve({ status: 'OK', data: Buffer.concat(parts) }));
  });
}

/** A PutFile of `data` in 1 MiB messages; resolves with the status name. */
function upload(client: grpc.Client, path: string, data: Buffer, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(F + 'PutFile', identity, identity, md, { deadline: Date.now() + timeoutMs }, (err) =>
      resolve(err ? `${grpc.status[err.code]}: ${err.details}` : 'OK'),
    );
    call.write(pb.bytes(1, pb.msg(pb.bytes(1, path), pb.bytes(3, `hol-${path}`))));
    for (let i = 0; i < data.length; i += 1 << 20) call.write(pb.bytes(2, data.subarray(i, i + (1 << 20))));
    call.end();
  });
}

test.before(async () => {
  ({ dir, address } = await localClusterUp('balancer-hol'));
  const token = readFileSync(dir.path('user.token'), 'utf8').trim();
  md = metadataWith({ authorization: `Bearer ${token}` });
  const sdk = new BlockstoreClient({ address, token, timeoutMs: 30_000 });
  try {
    for (const name of ['a', 'b']) await sdk.put(`hol/${name}.bin`, randomBytes(BIG));
    await sdk.put('hol/small.bin', randomBytes(1000));
  } finally {
    sdk.close();
  }
});

test.after(async () => {
  await localClusterDown(dir);
});

test('a client that stops reading two downloads (one per gateway) stalls no other client', async () => {
  // Two connections (grpc-js shares one between clients of the same address unless told not to).
  const reader = rawClient(address, { 'grpc.use_local_subchannel_pool': 1 });
  const other = rawClient(address, { 'grpc.use_local_subchannel_pool': 1 });
  try {
    const paused = [pausedDownload(reader, 'hol/a.bin'), pausedDownload(reader, 'hol/b.bin')];
    await Promise.all(paused.map((p) => p.firstMessage));
    // Calls alternate between the gateways: each meets a paused download's gateway.
    for (let i = 0; i < 12; i++) {
      const o = await unaryRaw(other, F + 'StatFile', pb.bytes(1, 'hol/small.bin'), md, 5000);
      assert.is(o.status, 'OK', `StatFile ${i} from another client while downloads are paused: ${o.status} ${o.details}\n${loggedErrors(dir)}`);
    }
    const body = randomBytes(3 << 20);
    assert.is(await upload(other, 'hol/other.bin', body, 10_000), 'OK', 'an upload from another client while downloads are paused');
    for (let i = 0; i < 4; i++) {
      const read = await download(other, 'hol/other.bin', 10_000);
      assert.is(read.status, 'OK', `download ${i} from another client while downloads are paused`);
      assert.ok(read.data.equals(body), 'the same bytes');
    }
    for (const p of paused) p.resume();
    for (const r of await Promise.all(paused.map((p) => p.done))) {
      assert.is(r.status, 'OK');
      assert.is(r.bytes, BIG, 'the paused download read all of it after resuming');
    }
  } finally {
    reader.close();
    other.close();
  }
});

test('uploads and paused downloads on one client connection: the upload finishes, then the downloads', async () => {
  const client = rawClient(address);
  try {
    const paused = [pausedDownload(client, 'hol/a.bin'), pausedDownload(client, 'hol/b.bin')];
    await Promise.all(paused.map((p) => p.firstMessage));
    // Without uploads on connections of their own, this upload's window
    // updates wait behind the paused downloads' data and the connection
    // wedges: the upload, then the downloads, hang until their deadlines.
    assert.is(await upload(client, 'hol/mixed.bin', randomBytes(24 << 20), 30_000), 'OK', 'upload beside paused downloads on one connection');
    for (const p of paused) p.resume();
    for (const r of await Promise.all(paused.map((p) => p.done))) {
      assert.is(r.status, 'OK');
      assert.is(r.bytes, BIG, 'the paused download read all of it after resuming');
    }
    const o = await unaryRaw(client, F + 'StatFile', pb.bytes(1, 'hol/mixed.bin'), md, 5000);
    assert.is(o.status, 'OK', 'the same connection still serves calls');
  } finally {
    client.close();
  }
});

test.run();
