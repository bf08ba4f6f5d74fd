/**
 * The one call pipeline of RpcServer, over real gRPC on loopback: unary,
 * client-streaming and server-streaming handlers all pass the fault hook,
 * count as calls in flight while they run, and are recorded by method and
 * status; a server stream whose client stops reading is closed as idle.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BlockstoreError } from '../../lib/errors';
import { createLogger } from '../../lib/logger';
import { Metrics } from '../../lib/metrics';
import { loadProtos } from '../../lib/rpc/proto';
import { RpcServer } from '../../lib/rpc/server';
import { allocWithHeadroom, frameBytesField, framedSendInstalled } from '../../lib/rpc/framed';
import { waitFor } from '../harness/wait';

let faulty = false;
const metrics = new Metrics({ node: 't', role: 'gateway' });
/** Everything the server logs at info and above. */
const logged: Array<Record<string, unknown>> = [];
const logger = createLogger({ level: 'info', write: (line) => void logged.push(JSON.parse(line)) });
const server = new RpcServer({ listen: '127.0.0.1:0', logger, metrics, exposure: 'public', faulty: () => faulty });
let release: () => void = () => {};
let streamSent = 0;
let streamEnded: string | undefined;
const signals = new Map<string, AbortSignal>();

const { protos } = loadProtos();
server.addService('blockstore.v1.Files', protos.blockstore.v1.Files.service, {
  StatFile: server.unary('StatFile', async (req: { path: string }, { signal }) => {
    signals.set(req.path, signal);
    if (req.path === 'missing') throw new BlockstoreError('NOT_FOUND', 'no such file');
    if (req.path === 'slow') await new Promise((r) => signal.addEventListener('abort', r));
    return { path: req.path };
  }),
  PutBlocks: server.clientStream('PutBlocks', async (call) => {
    let n = 0;
    for await (const _ of call) n++;
    await new Promise<void>((r) => (release = r));
    return { blocksStored: n, bytesStored: 0 };
  }),
  GetFile: server.serverStream(
    'GetFile',
    async (req: { path: string }, { send, signal }) => {
      try {
        await send({ info: { path: req.path } });
        if (req.path === 'framed') {
          // Frames built here beside a plain message: with headroom, without, and a subarray of a buffer with headroom.
          for (const d of framedPayloads()) await send(frameBytesField(2, d));
          await send({ data: Buffer.from('plain') });
          return;
        }
        // An endless stream: only the idle limit (or the client) ends it.
        for (;;) {
          await send({ data: Buffer.alloc(256 * 1024) });
          streamSent++;
          if (signal.aborted) return;
        }
      } catch (err) {
        streamEnded = (err as BlockstoreError).code ?? String(err);
        throw err;
      }
    },
    { idleMs: 300 },
  ),
});

function framedPayloads(): Buffer[] {
  const roomy = allocWithHeadroom(70_000).fill(3);
  return [roomy, allocWithHeadroom(0), Buffer.from('x'), Buffer.alloc(200, 9), roomy.subarray(5, 300)];
}

let client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
let port = 0;

test.before(async () => {
  port = await server.start();
  client = new protos.blockstore.v1.Files(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
});

test.after(() => {
  client.close();
  server.close();
});

const count = async (method: string, status: string) => {
  const line = (await metrics.render()).split('\n').find((l) => l.startsWith('blockstore_rpc_requests_total{') && l.includes(`method="${method}"`) && l.includes(`status="${status}"`));
  return line ? Number(line.split(' ').pop()) : 0;
};

test('a unary call is recorded by method and status', async () => {
  await new Promise<void>((res, rej) => client.StatFile({ path: 'a' }, (err: Error | null) => (err ? rej(err) : res())));
  const err = await new Promise<grpc.ServiceError>((res) => client.StatFile({ path: 'missing' }, (e: grpc.ServiceError) => res(e)));
  assert.is(err.code, grpc.status.NOT_FOUND);
  assert.is(await count('StatFile', 'OK'), 1);
  assert.is(await count('StatFile', 'NOT_FOUND'), 1);
});

test('a client stream counts as in flight until it answers, and is recorded', async () => {
  const done = new Promise<{ blocksStored: number }>((res, rej) => {
    const call = client.PutBlocks((err: Error | null, r: { blocksStored: number }) => (err ? rej(err) : res(r))) as grpc.ClientWritableStream<unknown>;
    call.write({ hash: 'x', data: Buffer.alloc(1) });
    call.write({ hash: 'y', data: Buffer.alloc(1) });
    call.end();
  });
  await waitFor('the stream in flight', () => server.callsInFlight === 1, 5000);
  release();
  assert.is((await done).blocksStored, 2);
  assert.is(server.callsInFlight, 0);
  assert.is(await count('PutBlocks', 'OK'), 1);
});

test('the fault hook fails streams as it fails unary calls', async () => {
  faulty = true;
  try {
    const err = await new Promise<grpc.ServiceError>((res) => {
      const call = client.PutBlocks((e: grpc.ServiceError) => res(e)) as grpc.ClientWritableStream<unknown>;
      call.end();
    });
    assert.is(err.code, grpc.status.UNAVAILABLE);
    const streamErr = await new Promise<grpc.ServiceError>((res) => {
      const call = client.GetFile({ path: 'p' }) as grpc.ClientReadableStream<unknown>;
      call.on('data', () => {});
      call.on('error', (e: grpc.ServiceError) => res(e));
    });
    assert.is(streamErr.code, grpc.status.UNAVAILABLE);
    assert.is(await count('PutBlocks', 'UNAVAILABLE'), 1);
    assert.is(await count('GetFile', 'UNAVAILABLE'), 1);
  } finally {
    faulty = false;
  }
});

test('a server stream whose client stops reading is closed as idle and recorded', async () => {
  const call = client.GetFile({ path: 'p' }) as grpc.ClientReadableStream<unknown>;
  const ended = new Promise<grpc.ServiceError>((res) => call.on('error', (e: grpc.ServiceError) => res(e)));
  // Reads the first message, then nothing: the buffers fill, then the idle limit ends the stream.
  call.once('data', () => call.pause());
  await waitFor('the stream in flight', () => server.callsInFlight === 1, 5000);
  await waitFor(`the idle stream closed (${streamSent} sent)`, () => streamEnded !== undefined, 10_000);
  assert.is(streamEnded, 'DEADLINE_EXCEEDED');
  call.resume();
  const err = await ended;
  assert.is(err.code, grpc.status.DEADLINE_EXCEEDED);
  assert.ok(streamSent < 1000, `a bounded number of messages was buffered (${streamSent})`);
  await waitFor('nothing in flight', () => server.callsInFlight === 0, 5000);
  assert.is(await count('GetFile', 'DEADLINE_EXCEEDED'), 1);
});

test('messages framed by the handler reach a gRPC client as the same messages, beside plain ones', async () => {
  assert.ok(framedSendInstalled(), 'this grpc-js is taught to send framed messages');
  const got: Array<{ info?: unknown; data?: Buffer }> = [];
  await new Promise<void>((res, rej) => {
    const call = client.GetFile({ path: 'framed' }) as grpc.ClientReadableStream<{ info?: unknown; data?: Buffer }>;
    call.on('data', (m) => got.push(m));
    call.on('error', rej);
    call.on('end', res);
  });
  const expected = [...framedPayloads(), Buffer.from('plain')];
  assert.is(got.length, 1 + expected.length);
  expected.forEach((d, i) => assert.ok(Buffer.from(got[i + 1]!.data ?? []).equals(d), `message ${i + 1}: ${d.length} bytes`));
  assert.is(await count('GetFile', 'OK'), 1);
});

test('a call\'s signal aborts when the client goes while its handler runs, and never once the call has finished', async () => {
  await new Promise<void>((res, rej) => client.StatFile({ path: 'done' }, (err: Error | null) => (err ? rej(err) : res())));
  const slow = await new Promise<grpc.ServiceError>((res) => client.StatFile({ path: 'slow' }, { deadline: Date.now() + 200 }, (e: grpc.ServiceError) => res(e)));
  assert.is(slow.code, grpc.status.DEADLINE_EXCEEDED);
  await waitFor('the running call aborted', () => signals.get('slow')?.aborted === true);
  // The finished call's stream closed long before the slow one gave up.
  assert.is(signals.get('done')!.aborted, false);
});

test('every HTTP/2 session gets a raised receive window for the connection, not only for its streams', async () => {
  // A plain HTTP/2 client: the window the server grants it is what any
  // client or balancer may send before waiting for a WINDOW_UPDATE.
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('error', reject);
      session.once('remoteSettings', () => resolve());
    });
    assert.is(session.remoteSettings.initialWindowSize, 8 * 1024 * 1024, 'stream window');
    // A ping's answer comes after the server's WINDOW_UPDATE for the connection.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    // A public server (a gateway) grants 1 MiB for the connection (lib/rpc/server.ts says why not more).
    assert.ok(session.state.remoteWindowSize! >= 1024 * 1024, `connection window ${session.state.remoteWindowSize} (HTTP/2's default is 65,535)`);
  } finally {
    session.destroy();
  }
});

/**
 * The GOAWAY HAProxy 2.6 sends a server when it closes a connection: it
 * names HAProxy's own last stream (1, an odd ID, which RFC 9113 reserves
 * for the server's streams), with INTERNAL_ERROR. Node's HTTP/2 library
 * rejects it as a protocol error and ends the session.
 */
const HAPROXY_GOAWAY = Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0, /* last stream */ 0, 0, 0, 1, /* error */ 0, 0, 0, 2]);

/** A plain HTTP/2 client over a socket the test can also write raw frames to. */
async function rawSession(): Promise<{ raw: ReturnType<typeof netConnect>; session: http2.ClientHttp2Session; statFile(path: string): http2.ClientHttp2Stream }> {
  const raw = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => raw });
  session.on('error', () => undefined); // the server's own GOAWAY when it ends the session
  const statFile = (path: string) => {
    const call = session.request({ ':method': 'POST', ':path': '/blockstore.v1.Files/StatFile', 'content-type': 'application/grpc', te: 'trailers' });
    call.on('error', () => undefined);
    // One gRPC message: StatFileRequest { path }.
    call.end(Buffer.from([0, 0, 0, 0, path.length + 2, 0x0a, path.length, ...Buffer.from(path)]));
    return call;
  };
  return { raw, session, statFile };
}

test('a session the peer ends with a GOAWAY nghttp2 rejects is logged with the calls it carried', async () => {
  const { raw, session, statFile } = await rawSession();
  try {
    signals.delete('slow');
    statFile('slow');
    await waitFor('the call running on the server', () => signals.get('slow'));
    const before = logged.length;
    raw.write(HAPROXY_GOAWAY);
    await waitFor('the call aborted with its session', () => signals.get('slow')!.aborted);
    const failed = await waitFor('the session failure logged', () => logged.slice(before).find((w) => w.msg === 'an HTTP/2 session failed; the calls it carried fail'));
    assert.is((failed.err as { message: string }).message, 'Protocol error');
    assert.is(failed.calls, 1, JSON.stringify(failed));
    assert.is(failed.level, 'warn');
  } finally {
    session.destroy();
    raw.destroy();
  }
});

test('the same GOAWAY on an idle session is noted, not warned about: no call failed', async () => {
  const { raw, session, statFile } = await rawSession();
  try {
    // One finished call first: the session is known to the server and idle.
    const call = statFile('done');
    call.resume();
    await new Promise((r) => call.on('close', r));
    const before = logged.length;
    raw.write(HAPROXY_GOAWAY);
    const ended = await waitFor('the idle session\'s end logged', () => logged.slice(before).find((w) => String(w.msg).includes('HTTP/2 session')));
    assert.is(ended.level, 'info', JSON.stringify(ended));
    assert.is(ended.calls, 0);
  } finally {
    session.destroy();
    raw.destroy();
  }
});

test.run();
