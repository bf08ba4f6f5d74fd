/**
 * The bad-input campaign: hostile bytes, streams, tokens and floods against
 * every public method and the internal services of a real cluster (etcd,
 * 3 metadata nodes, 3 block daemons, 2 gateways). Every input must get its
 * stated gRPC status; afterwards no process has died, none has grown its
 * memory beyond a bound, no log line holds a token or the cluster secret,
 * and not one stored byte has changed (every user's listing and content
 * hashes, every daemon's block set and the metadata log position are
 * compared before and after). A seeded fuzz pass follows (HOSTILE_FUZZ_MS,
 * default 15 s; HOSTILE_FUZZ_SEED replays one): no answer may be INTERNAL
 * or UNKNOWN, no process may die, no other user's file may change. HOSTILE_REPORT=FILE writes the table of inputs and answers.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { readJson } from '../../coordination/job-lock';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { CLUSTER_AUTH_HEADER } from '../../lib/security/cluster-credentials';
import { seededRandom } from '../harness/random';
import { FullCluster } from '../harness/full-cluster';
import { waitFor } from '../harness/wait';
import { clientStreamRaw, metadataWith, pb, rawClient, serverStreamRaw, unaryRaw, type Outcome } from '../harness/raw-grpc';

const test = suite('hostile input campaign');
const F = '/blockstore.v1.Files/';
const A = '/blockstore.v1.Admin/';
const B = '/blockstore.internal.v1.BlockDaemon/';
const M = '/blockstore.internal.v1.Metadata/';
const R = '/blockstore.internal.v1.MetaReplication/';
const IDLE_MS = 1500;
const STREAMS = 32;

let c: FullCluster;
let gw: grpc.Client;
let gw2: grpc.Client;
const tokens: Record<string, string> = {};
const bodies: Record<string, Buffer> = {};
const rows: Array<{ n: number; target: string; input: string; want: string; got: Outcome }> = [];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const auth = (who: string, extra: Record<string, string> = {}) => metadataWith({ authorization: `Bearer ${tokens[who]}`, ...extra });
const internal = () => metadataWith({ [CLUSTER_AUTH_HEADER]: process.env.BLOCKSTORE_CLUSTER_SECRET! });

/** Records one input and asserts its status (and blockstore code, when given as STATUS/CODE). */
function expect(target: string, input: string, got: Outcome, ...want: string[]): void {
  rows.push({ n: rows.length + 1, target, input, want: want.join(' or '), got });
  const ok = want.some((w) => {
    const [status, code] = w.split('/');
    return got.status === status && (!code || got.code === code);
  });
  assert.ok(ok, `${target} ← ${input}: wanted ${want.join(' or ')}, got ${got.status}${got.code ? `/${got.code}` : ''} "${got.details}"`);
  assert.ok(got.status === 'OK' || got.details.length > 0, `${target} ← ${input}: a status without a message`);
}

interface Snapshot {
  files: string[];
  blocks: string[];
  metaSeq: number;
}

async function snapshot(): Promise<Snapshot> {
  const files: string[] = [];
  for (const who of ['alice', 'mallory', 'flooder']) {
    const client = c.client(tokens[who]!);
    for await (const f of client.list('')) {
      const data = await client.get(f.path);
      files.push(`${who}:${f.path}:v${f.version}:${f.size}:${sha(data)}`);
    }
  }
  const blocks: string[] = [];
  for (const b of c.blockds.values()) {
    const client = new BlockdClient(b.address);
    try {
      let after = '';
      for (;;) {
        const page = await client.listBlocks(after, 1000);
        for (const e of page.blocks) blocks.push(`${b.id}:${e.hash}:${e.size}`);
        if (!page.nextAfter) break;
        after = page.nextAfter;
      }
    } finally {
      client.close();
    }
  }
  const seqs = await Promise.all(c.meta.alive().map((n) => n.client.status().then((s) => (s.role === 'master' ? s.lastSeq : 0))));
  return { files: files.sort(), blocks: blocks.sort(), metaSeq: Math.max(...seqs) };
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function processes() {
  return [...c.gateways.values(), ...c.blockds.values()].map((n) => ({ id: n.id, proc: n.proc })).concat(c.meta.alive().map((n) => ({ id: n.id, proc: n.proc })));
}

let before: Snapshot;
let revokedToken = '';
let expiringToken = '';
let expiresAt = 0;
let aliceBlock = '';

test.before(async () => {
  c = await FullCluster.start({
    gatewayArgs: ['--user-rate', '400', '--user-burst', '400', '--user-streams', String(STREAMS), '--stream-idle-ms', String(IDLE_MS), '--log-level', 'debug'],
  });
  for (const who of ['alice', 'mallory', 'flooder', 'fuzzer']) tokens[who] = (await c.user(who)).token;
  const alice = c.client(tokens.alice!);
  bodies.small = randomBytes(100_000);
  bodies.big = randomBytes(3 * 1024 * 1024);
  await alice.put('docs/small.bin', bodies.small);
  await alice.put('docs/big.bin', bodies.big);
  // Larger than what a paused reader's buffers and windows hold (1 MiB messages, 16 queued).
  await alice.put('docs/huge.bin', randomBytes(48 * 1024 * 1024));
  await c.client(tokens.mallory!).put('m/own.txt', Buffer.from('mallory was here'));
  await c.client(tokens.flooder!).put('f/x.bin', randomBytes(200_000));
  aliceBlock = sha(bodies.small); // one block: smaller than the chunker's minimum
  const admin = c.client(c.adminToken);
  const t = await admin.issueToken('alice');
  await admin.revokeToken(t.tokenId);
  revokedToken = t.token;
  const e = await admin.issueToken('alice', 'user', 2);
  expiringToken = e.token;
  expiresAt = Date.parse(e.expiresAt);
  assert.ok(expiresAt > Date.now() - 1000, 'the token carries its expiry');
  await c.client(expiringToken).stat('docs/small.bin'); // works while fresh
  const gws = c.gatewayAddresses();
  gw = rawClient(gws[0]!);
  gw2 = rawClient(gws[1]!);
  // The repair worker's first pass collects garbage, which begins with a
  // metadata write (the collection fence); the next is a quarter of the GC
  // grace away. Let it land before the snapshot, so the campaign's window
  // holds only what the campaign itself could write.
  await waitFor('the repair worker\'s first pass', async () => Boolean((await readJson<{ lastPass: string }>([c.etcd.endpoint], '/blockstore/repair/status'))?.lastPass), 60_000, 200);
  before = await snapshot();
});

test.after(async () => {
  gw?.close();
  gw2?.close();
  if (process.env.HOSTILE_REPORT) {
    const lines = ['| # | target | hostile input | wanted | got |', '|---|---|---|---|---|'];
    for (const r of rows) {
      const got = `${r.got.status}${r.got.code ? ` (${r.got.code})` : ''}`;
      lines.push(`| ${r.n} | ${r.target} | ${r.input} | ${r.want} | ${got} |`);
    }
    writeFileSync(process.env.HOSTILE_REPORT, `${lines.join('\n')}\n`);
  }
  await c?.stop();
});

test('malformed and ill-typed protobuf', async () => {
  const md = auth('alice');
  expect('Files/StatFile', 'random bytes (not protobuf)', await unaryRaw(gw, F + 'StatFile', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), md), 'INVALID_ARGUMENT');
  expect('Files/StatFile', 'truncated message (length past the end)', await unaryRaw(gw, F + 'StatFile', Buffer.from([0x0a, 0x40, 0x61]), md), 'INVALID_ARGUMENT');
  expect('Files/StatFile', 'wrong wire type (path as a varint)', await unaryRaw(gw, F + 'StatFile', pb.u64(1, 5), md), 'INVALID_ARGUMENT');
  expect('Files/ListFiles', 'wrong wire type (page_size as bytes)', await unaryRaw(gw, F + 'ListFiles', pb.bytes(2, 'many'), md), 'INVALID_ARGUMENT', 'OK');
  expect('Files/StatFile', 'unknown fields only (no path)', await unaryRaw(gw, F + 'StatFile', pb.msg(pb.bytes(99, 'x'), pb.u64(98, 1)), md), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/GetFile', 'random bytes (server stream)', await serverStreamRaw(gw, F + 'GetFile', randomBytes(64), md), 'INVALID_ARGUMENT');
  expect('Files/PutFile', 'random bytes as the first stream message', await clientStreamRaw(gw, F + 'PutFile', [Buffer.from([0x12, 0x7f])], md, { then: 'end' }), 'INVALID_ARGUMENT');
  expect('Files/Watch', 'random bytes', await serverStreamRaw(gw, F + 'Watch', Buffer.from([0x0a, 0xff]), md, { timeoutMs: 3000 }), 'INVALID_ARGUMENT');
  expect('Admin/CreateUser', 'random bytes (admin token)', await unaryRaw(gw, A + 'CreateUser', Buffer.from([0x1a, 0x05, 0x01]), auth('admin')), 'INVALID_ARGUMENT');
});

test('paths: empty, control characters, invalid UTF-8, "..", absolute tricks, oversize', async () => {
  const md = auth('alice');
  const stat = (path: Buffer | string) => unaryRaw(gw, F + 'StatFile', pb.bytes(1, path), md);
  expect('Files/StatFile', 'empty path', await stat(''), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', 'NUL byte in path', await stat('docs/a\u0000b'), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', 'newline and ESC in path', await stat('docs/\n\u001b[31m'), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', 'invalid UTF-8 bytes (0xC3 0x28)', await stat(Buffer.from([0x64, 0xc3, 0x28])), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', 'UTF-8 of a lone surrogate (0xED 0xA0 0x80)', await stat(Buffer.from([0x61, 0xed, 0xa0, 0x80])), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', '".." segment', await stat('docs/../../etc/passwd'), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', 'absolute path with ".." ("/../x")', await stat('/../docs/small.bin'), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', '"." and empty segments ("a/./b", "a//b")', await stat('docs/.//small.bin'), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/StatFile', 'path of 64 KiB', await stat('a/'.repeat(32 * 1024)), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/MoveFile', 'move onto "../x"', await unaryRaw(gw, F + 'MoveFile', pb.msg(pb.bytes(1, 'docs/small.bin'), pb.bytes(2, '../x')), md), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/ListFiles', 'prefix with ".."', await unaryRaw(gw, F + 'ListFiles', pb.bytes(1, '../'), md), 'INVALID_ARGUMENT/INVALID_PATH');
  expect('Files/Watch', 'prefix with a NUL byte', await serverStreamRaw(gw, F + 'Watch', pb.bytes(1, 'a\u0000'), md, { timeoutMs: 3000 }), 'INVALID_ARGUMENT/INVALID_PATH');
});

test('sizes, offsets and versions out of range', async () => {
  const md = auth('alice');
  const get = (fields: Buffer[]) => serverStreamRaw(gw, F + 'GetFile', pb.msg(pb.bytes(1, 'docs/small.bin'), ...fields), md);
  expect('Files/GetFile', 'offset 2^64-1 (a negative int64)', await get([pb.u64(3, -1n)]), 'OUT_OF_RANGE', 'INVALID_ARGUMENT');
  expect('Files/GetFile', 'length 2^63', await get([pb.u64(4, 1n << 63n)]), 'OK', 'INVALID_ARGUMENT');
  expect('Files/GetFile', 'version from the future (10^12)', await get([pb.u64(2, 10n ** 12n)]), 'NOT_FOUND');
  expect('Files/StatFile', 'min_position from the future', await unaryRaw(gw, F + 'StatFile', pb.msg(pb.bytes(1, 'docs/small.bin'), pb.u64(3, 10n ** 15n)), md, 15_000), 'INVALID_ARGUMENT');
  expect('Files/RestoreVersion', 'version from the future', await unaryRaw(gw, F + 'RestoreVersion', pb.msg(pb.bytes(1, 'docs/small.bin'), pb.u64(2, 999_999)), md), 'NOT_FOUND');
  expect('Files/DeleteFile', 'expected_version from the future', await unaryRaw(gw, F + 'DeleteFile', pb.msg(pb.bytes(1, 'docs/small.bin'), pb.u64(2, 999_999)), md), 'FAILED_PRECONDITION/VERSION_CONFLICT');
  expect('Files/ListFiles', 'page_size 2^32-1', await unaryRaw(gw, F + 'ListFiles', pb.u64(2, 0xffffffff), md), 'INVALID_ARGUMENT');
  // A page token only ever positions a scan inside the caller's own namespace.
  expect('Files/ListFiles', 'forged page_token (garbage, decodes outside the prefix)', await unaryRaw(gw, F + 'ListFiles', pb.msg(pb.bytes(1, 'docs/'), pb.bytes(3, 'Li4vYWxpY2U')), md), 'INVALID_ARGUMENT');
  expect('Files/FindMissingBlocks', '20,000 hashes in one call', await unaryRaw(gw, F + 'FindMissingBlocks', Buffer.concat(Array.from({ length: 20_000 }, () => pb.bytes(1, 'a'.repeat(64)))), md), 'INVALID_ARGUMENT');
  expect('Files/PutBlocks', 'message of 6 MiB (over the limit)', await clientStreamRaw(gw, F + 'PutBlocks', [pb.msg(pb.bytes(1, 'a'.repeat(64)), pb.bytes(2, Buffer.alloc(6 * 1024 * 1024)))], md, { then: 'end' }), 'RESOURCE_EXHAUSTED');
  const big = Buffer.alloc(4 * 1024 * 1024 + 1, 7);
  expect('Files/PutBlocks', 'block of 4 MiB + 1', await clientStreamRaw(gw, F + 'PutBlocks', [pb.msg(pb.bytes(1, sha(big)), pb.bytes(2, big))], md, { then: 'end' }), 'INVALID_ARGUMENT/BLOCK_TOO_LARGE');
});

test('hashes and block lists: mismatched, malformed, unknown, foreign', async () => {
  const md = auth('mallory');
  const data = randomBytes(1000);
  expect('Files/PutBlocks', 'hash that does not match the bytes', await clientStreamRaw(gw, F + 'PutBlocks', [pb.msg(pb.bytes(1, sha(Buffer.from('other'))), pb.bytes(2, data))], md, { then: 'end' }), 'INVALID_ARGUMENT/HASH_MISMATCH');
  expect('Files/PutBlocks', 'hash not 64 hex characters', await clientStreamRaw(gw, F + 'PutBlocks', [pb.msg(pb.bytes(1, 'XYZ'), pb.bytes(2, data))], md, { then: 'end' }), 'INVALID_ARGUMENT/INVALID_HASH');
  const put = (header: Buffer[], chunks: Buffer[]) => clientStreamRaw(gw, F + 'PutFile', [pb.bytes(1, pb.msg(...header)), ...chunks.map((d) => pb.bytes(2, d))], md, { then: 'end' });
  expect('Files/PutFile', 'content_hash that does not match', await put([pb.bytes(1, 'm/x.bin'), pb.bytes(4, sha(Buffer.from('nope')))], [data]), 'INVALID_ARGUMENT/HASH_MISMATCH');
  expect('Files/PutFile', 'content_hash malformed', await put([pb.bytes(1, 'm/x.bin'), pb.bytes(4, 'zz')], [data]), 'INVALID_ARGUMENT');
  expect('Files/PutFile', 'data before the header', await clientStreamRaw(gw, F + 'PutFile', [pb.bytes(2, data)], md, { then: 'end' }), 'INVALID_ARGUMENT');
  expect('Files/PutFile', 'a second header mid-stream', await clientStreamRaw(gw, F + 'PutFile', [pb.bytes(1, pb.bytes(1, 'm/x.bin')), pb.bytes(2, data), pb.bytes(1, pb.bytes(1, 'm/y.bin'))], md, { then: 'end' }), 'INVALID_ARGUMENT');
  const commit = (blocks: Array<[string, number]>, path = 'm/stolen.bin') =>
    unaryRaw(gw, F + 'CommitFile', pb.msg(pb.bytes(1, path), ...blocks.map(([h, s]) => pb.bytes(2, pb.msg(pb.bytes(1, h), pb.u64(2, s))))), md);
  expect('Files/CommitFile', 'blocks nobody stored', await commit([[sha(randomBytes(8)), 8]]), 'FAILED_PRECONDITION/MISSING_BLOCKS');
  expect('Files/CommitFile', "another user's block, named by its hash", await commit([[aliceBlock, bodies.small!.length]]), 'FAILED_PRECONDITION/MISSING_BLOCKS');
  expect('Files/CommitFile', 'block size 0 and 2^64-1', await commit([[aliceBlock, 0], [aliceBlock, -1]]), 'INVALID_ARGUMENT');
  expect('Files/CommitFile', 'malformed block hash', await commit([['../../etc', 10]]), 'INVALID_ARGUMENT');
  expect('Files/FindMissingBlocks', "probing another user's block", await unaryRaw(gw, F + 'FindMissingBlocks', pb.bytes(1, aliceBlock), md), 'OK');
});

test('streams: truncated, never-ending, stalled readers, a client that vanishes', async () => {
  const md = auth('mallory');
  const header = pb.bytes(1, pb.msg(pb.bytes(1, 'm/partial.bin')));
  expect('Files/PutFile', 'client cancels after 2 MiB (truncated upload)', await clientStreamRaw(gw, F + 'PutFile', [header, pb.bytes(2, randomBytes(1 << 20)), pb.bytes(2, randomBytes(1 << 20))], md, { then: 'cancel' }), 'CANCELLED');
  expect('Files/PutFile', 'header, data, then silence (never half-closes)', await clientStreamRaw(gw, F + 'PutFile', [header, pb.bytes(2, randomBytes(300_000))], md, { then: 'stall' }), 'DEADLINE_EXCEEDED');
  expect('Files/PutFile', 'opens the stream and sends nothing', await clientStreamRaw(gw, F + 'PutFile', [], md, { then: 'stall' }), 'DEADLINE_EXCEEDED');
  expect('Files/PutBlocks', 'one block then silence', await clientStreamRaw(gw, F + 'PutBlocks', [pb.msg(pb.bytes(1, sha(Buffer.from('q'))), pb.bytes(2, Buffer.from('q')))], md, { then: 'stall' }), 'DEADLINE_EXCEEDED');
  expect('Files/GetFile', 'reader stops reading a 48 MiB download', await serverStreamRaw(gw, F + 'GetFile', pb.bytes(1, 'docs/huge.bin'), auth('alice'), { readDelayMs: IDLE_MS * 4, timeoutMs: 60_000 }), 'DEADLINE_EXCEEDED');
  expect('Files/GetFile', 'reader cancels after the first message', await serverStreamRaw(gw, F + 'GetFile', pb.bytes(1, 'docs/big.bin'), auth('alice'), { cancelAfterFirst: true }), 'CANCELLED');
  // Every slot came back: a normal download still works.
  expect('Files/GetFile', '(control) a normal download after the above', await serverStreamRaw(gw, F + 'GetFile', pb.bytes(1, 'docs/big.bin'), auth('alice')), 'OK');
});

test('tokens: missing, malformed, forged, revoked, oversize, another user, wrong scope', async () => {
  const stat = pb.bytes(1, 'docs/small.bin');
  const call = (md: grpc.Metadata) => unaryRaw(gw, F + 'StatFile', stat, md);
  expect('Files/StatFile', 'no authorization header', await call(metadataWith({})), 'UNAUTHENTICATED');
  expect('Files/StatFile', '"Bearer" with no token', await call(metadataWith({ authorization: 'Bearer' })), 'UNAUTHENTICATED');
  expect('Files/StatFile', 'Basic auth instead of Bearer', await call(metadataWith({ authorization: 'Basic YWxpY2U6cGFzcw==' })), 'UNAUTHENTICATED');
  const id = tokens.alice!.split('_')[1]!;
  expect('Files/StatFile', "forged token (alice's token id, made-up secret)", await call(metadataWith({ authorization: `Bearer bst_${id}_${randomBytes(32).toString('base64url')}` })), 'UNAUTHENTICATED');
  expect('Files/StatFile', 'revoked token', await call(metadataWith({ authorization: `Bearer ${revokedToken}` })), 'UNAUTHENTICATED');
  await waitFor('the short-lived token to pass its expiry', () => Date.now() > expiresAt + 100, 10_000);
  expect('Files/StatFile', 'expired token (issued with ttl_seconds 2; worked while fresh)', await call(metadataWith({ authorization: `Bearer ${expiringToken}` })), 'UNAUTHENTICATED');
  expect('Admin/IssueToken', 'ttl_seconds 2^64-1', await unaryRaw(gw, A + 'IssueToken', pb.msg(pb.bytes(1, 'alice'), pb.u64(3, -1n)), metadataWith({ authorization: `Bearer ${c.adminToken}` })), 'INVALID_ARGUMENT');
  expect('Files/StatFile', 'token of 6 KiB', await call(metadataWith({ authorization: `Bearer ${'x'.repeat(6 * 1024)}` })), 'UNAUTHENTICATED');
  expect('Files/StatFile', "another user's file (mallory reads alice's path)", await call(auth('mallory')), 'NOT_FOUND');
  expect('Files/GetFile', "another user's file, streamed", await serverStreamRaw(gw, F + 'GetFile', stat, auth('mallory')), 'NOT_FOUND');
  expect('Admin/CreateUser', 'a user token on the Admin service', await unaryRaw(gw, A + 'CreateUser', pb.msg(pb.bytes(1, 'evil'), pb.bytes(2, 'x')), auth('mallory')), 'PERMISSION_DENIED');
  expect('Admin/IssueToken', 'scope "root"', await unaryRaw(gw, A + 'IssueToken', pb.msg(pb.bytes(1, 'alice'), pb.bytes(2, 'root')), metadataWith({ authorization: `Bearer ${c.adminToken}` })), 'INVALID_ARGUMENT');
  expect('Admin/CreateUser', 'user id with "/" and control characters', await unaryRaw(gw, A + 'CreateUser', pb.msg(pb.bytes(1, '../\u0001'), pb.bytes(2, 'x')), metadataWith({ authorization: `Bearer ${c.adminToken}` })), 'INVALID_ARGUMENT');
});

test('floods: a thousand parallel streams from one client, a burst past the rate limit', async () => {
  const md = auth('flooder');
  // 1,000 downloads on one connection: at most STREAMS run at once, the rest are told to come back.
  const outs = await Promise.all(Array.from({ length: 1000 }, () => serverStreamRaw(gw2, F + 'GetFile', pb.bytes(1, 'f/x.bin'), md, { timeoutMs: 60_000 })));
  const by = (s: string) => outs.filter((o) => o.status === s).length;
  assert.is(by('OK') + by('RESOURCE_EXHAUSTED'), 1000, `only OK and RESOURCE_EXHAUSTED: ${JSON.stringify(outs.find((o) => o.status !== 'OK' && o.status !== 'RESOURCE_EXHAUSTED'))}`);
  expect('Files/GetFile', `1,000 parallel streams from one client (${by('OK')} served, ${by('RESOURCE_EXHAUSTED')} refused)`, outs.find((o) => o.status === 'RESOURCE_EXHAUSTED') ?? outs[0]!, 'RESOURCE_EXHAUSTED/RATE_LIMITED');
  assert.ok(by('OK') >= STREAMS, 'the allowed streams were served');
  // 1,200 unary calls at once against a 400/s budget.
  const burst = await Promise.all(Array.from({ length: 1200 }, () => unaryRaw(gw2, F + 'GetUsage', Buffer.alloc(0), md)));
  const limited = burst.find((o) => o.status === 'RESOURCE_EXHAUSTED');
  expect('Files/GetUsage', `1,200 calls at once over a 400 calls/s limit (${burst.filter((o) => o.status === 'RESOURCE_EXHAUSTED').length} refused)`, limited ?? burst[0]!, 'RESOURCE_EXHAUSTED/RATE_LIMITED');
  assert.ok(Number(limited?.retryAfterMs) > 0, 'the refusal carries a retry hint');
  assert.ok(burst.every((o) => o.status === 'OK' || o.status === 'RESOURCE_EXHAUSTED'));
  // The gateway serves other users meanwhile.
  expect('Files/StatFile', '(control) another user during the flood', await unaryRaw(gw2, F + 'StatFile', pb.bytes(1, 'docs/small.bin'), auth('alice')), 'OK');
});

test('internal services: no or forged cluster credentials, malformed bytes, foreign sources', async () => {
  const b = rawClient([...c.blockds.values()][0]!.address);
  const m = rawClient(c.meta.alive()[0]!.address);
  try {
    const put = pb.msg(pb.bytes(1, sha(Buffer.from('x'))), pb.bytes(2, Buffer.from('x')));
    expect('BlockDaemon/PutBlock', 'no cluster credentials', await unaryRaw(b, B + 'PutBlock', put, metadataWith({})), 'UNAUTHENTICATED');
    expect('BlockDaemon/GetBlock', 'forged cluster secret', await unaryRaw(b, B + 'GetBlock', pb.bytes(1, aliceBlock), metadataWith({ [CLUSTER_AUTH_HEADER]: randomBytes(24).toString('base64url') })), 'UNAUTHENTICATED');
    expect('BlockDaemon/DeleteBlocks', "a user's bearer token instead of cluster credentials", await unaryRaw(b, B + 'DeleteBlocks', pb.bytes(1, aliceBlock), auth('alice')), 'UNAUTHENTICATED');
    expect('BlockDaemon/PutBlock', 'malformed bytes (with credentials)', await unaryRaw(b, B + 'PutBlock', Buffer.from([0x0a, 0x7f, 0x00]), internal()), 'INVALID_ARGUMENT');
    expect('BlockDaemon/CopyBlock', 'copy from an address that is no daemon (with credentials)', await unaryRaw(b, B + 'CopyBlock', pb.msg(pb.bytes(1, sha(Buffer.from('nothing'))), pb.bytes(2, '127.0.0.1:1')), internal()), 'UNAVAILABLE', 'NOT_FOUND');
    expect('Metadata/CommitVersion', 'no cluster credentials (forging metadata)', await unaryRaw(m, M + 'CommitVersion', pb.msg(pb.bytes(1, 'alice'), pb.bytes(2, 'docs/small.bin')), metadataWith({})), 'UNAUTHENTICATED');
    expect('Metadata/CreateUser', 'forged cluster secret', await unaryRaw(m, M + 'CreateUser', pb.msg(pb.bytes(1, 'evil'), pb.bytes(2, 'x')), metadataWith({ [CLUSTER_AUTH_HEADER]: 'guess-guess-guess-guess' })), 'UNAUTHENTICATED');
    expect('Metadata/Authenticate', 'token-hash oracle without credentials', await unaryRaw(m, M + 'Authenticate', pb.bytes(1, sha(Buffer.from(tokens.alice!))), metadataWith({})), 'UNAUTHENTICATED');
    expect('Metadata/Watch', "another namespace's feed without credentials", await serverStreamRaw(m, M + 'Watch', pb.bytes(1, 'alice'), metadataWith({}), { timeoutMs: 3000 }), 'UNAUTHENTICATED');
    expect('MetaReplication/Follow', 'a fake replica without credentials', await clientStreamRaw(m, R + 'Follow', [Buffer.from([0x0a, 0x00])], metadataWith({}), { then: 'end', timeoutMs: 3000 }), 'UNAUTHENTICATED');
    expect('Metadata/CommitVersion', 'malformed bytes (with credentials)', await unaryRaw(m, M + 'CommitVersion', Buffer.from([0xff, 0x01]), internal()), 'INVALID_ARGUMENT');
  } finally {
    b.close();
    m.close();
  }
});

test('after the campaign: every process alive, memory bounded, nothing stored changed, no credential in any log', async () => {
  for (const p of processes()) assert.ok(p.proc.alive(), `${p.id} died during the campaign`);
  // Memory: a second pass of the heaviest inputs must not grow any process by more than 96 MiB.
  const rss1 = new Map(processes().map((p) => [p.id, rssKiB(p.proc.pid)]));
  const md = auth('flooder');
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 300 }, () => serverStreamRaw(gw2, F + 'GetFile', pb.bytes(1, 'f/x.bin'), md, { timeoutMs: 60_000 })));
    await Promise.all(Array.from({ length: 20 }, () => unaryRaw(gw2, F + 'StatFile', randomBytes(200), md)));
  }
  for (const p of processes()) {
    const grew = (rssKiB(p.proc.pid) - rss1.get(p.id)!) / 1024;
    assert.ok(grew < 96, `${p.id} grew ${grew.toFixed(0)} MiB over a repeat of the floods`);
  }
  const after = await snapshot();
  assert.equal(after.files, before.files, 'every listing and content hash unchanged');
  // Interrupted uploads leave blocks no version references (the metadata
  // log did not move, so nothing can); collection removes them after its
  // grace. No block that was there is gone or different.
  const had = new Set(after.blocks);
  assert.equal(before.blocks.filter((b) => !had.has(b)), [], 'no stored block removed or changed');
  console.log(`campaign: ${rows.length} inputs; ${after.blocks.length - before.blocks.length} unreferenced block copies left by interrupted uploads (collected after the GC grace)`);
  assert.is(after.metaSeq, before.metaSeq, 'the metadata log did not move');
  const secrets = [...Object.values(tokens), c.adminToken, revokedToken, expiringToken].map((t) => t.split('_').slice(2).join('_'));
  secrets.push(process.env.BLOCKSTORE_CLUSTER_SECRET!);
  for (const p of processes()) {
    const out = p.proc.output();
    for (const s of secrets) assert.not.ok(out.includes(s), `${p.id}'s log holds a credential`);
  }
});

function mutate(rand: () => number, seed: Buffer): Buffer {
  const b = Buffer.from(seed);
  const pick = Math.floor(rand() * 5);
  if (pick === 0 && b.length) for (let i = 0; i < 1 + rand() * 4; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
  if (pick === 1) return b.subarray(0, Math.floor(rand() * b.length));
  if (pick === 2) return Buffer.concat([b, randomBytesFrom(rand, 1 + Math.floor(rand() * 40))]);
  if (pick === 3) return randomBytesFrom(rand, Math.floor(rand() * 80));
  if (pick === 4 && b.length) b[0] = (Math.floor(rand() * 20) << 3) | Math.floor(rand() * 6);
  return b;
}

function randomBytesFrom(rand: () => number, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
}

test('fuzz: mutated requests to every public method get a clean status', async () => {
  const ms = Number(process.env.HOSTILE_FUZZ_MS ?? 15_000);
  const seed = Number(process.env.HOSTILE_FUZZ_SEED ?? Date.now() % 1e9);
  const rand = seededRandom(seed);
  const md = auth('fuzzer');
  const seeds: Array<[string, 'unary' | 'server' | 'client', Buffer]> = [
    ['StatFile', 'unary', pb.msg(pb.bytes(1, 'docs/small.bin'), pb.u64(2, 1))],
    ['ListFiles', 'unary', pb.msg(pb.bytes(1, 'docs/'), pb.u64(2, 10))],
    ['ListVersions', 'unary', pb.bytes(1, 'docs/small.bin')],
    ['DeleteFile', 'unary', pb.msg(pb.bytes(1, 'nothing/here'), pb.u64(2, 7))],
    ['MoveFile', 'unary', pb.msg(pb.bytes(1, 'nothing/a'), pb.bytes(2, 'nothing/b'))],
    ['RestoreVersion', 'unary', pb.msg(pb.bytes(1, 'nothing/a'), pb.u64(2, 3))],
    ['FindMissingBlocks', 'unary', pb.bytes(1, aliceBlock)],
    ['CommitFile', 'unary', pb.msg(pb.bytes(1, 'fz/a'), pb.bytes(2, pb.msg(pb.bytes(1, aliceBlock), pb.u64(2, 10))))],
    ['GetUsage', 'unary', Buffer.alloc(0)],
    ['GetFile', 'server', pb.msg(pb.bytes(1, 'docs/small.bin'), pb.u64(3, 10), pb.u64(4, 100))],
    ['PutFile', 'client', pb.bytes(1, pb.msg(pb.bytes(1, 'fz/x'), pb.bytes(4, 'a'.repeat(64))))],
    ['PutBlocks', 'client', pb.msg(pb.bytes(1, 'b'.repeat(64)), pb.bytes(2, 'data'))],
  ];
  const bad = ['INTERNAL', 'UNKNOWN', 'DATA_LOSS', 'UNIMPLEMENTED'];
  const seen = new Map<string, number>();
  const deadline = Date.now() + ms;
  let calls = 0;
  while (Date.now() < deadline && calls < 20_000) {
    const batch = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const [method, kind, base] = seeds[Math.floor(rand() * seeds.length)]!;
        const bytes = mutate(rand, base);
        const client = rand() < 0.5 ? gw : gw2;
        const o =
          kind === 'unary'
            ? await unaryRaw(client, F + method, bytes, md)
            : kind === 'server'
              ? await serverStreamRaw(client, F + method, bytes, md, { timeoutMs: 10_000 })
              : await clientStreamRaw(client, F + method, [bytes], md, { then: 'end' });
        return { method, bytes, o };
      }),
    );
    for (const { method, bytes, o } of batch) {
      calls++;
      seen.set(o.status, (seen.get(o.status) ?? 0) + 1);
      assert.not.ok(bad.includes(o.status), `seed ${seed}: ${method} ← ${bytes.toString('hex')} answered ${o.status} "${o.details}"`);
    }
  }
  // Fuzzed writes may land in the fuzzer's own namespace; no one else's changed.
  for (const p of processes()) assert.ok(p.proc.alive(), `${p.id} died during the fuzz pass`);
  assert.equal((await snapshot()).files, before.files, "other users' files unchanged");
  console.log(`fuzz: ${calls} calls in ${ms} ms, seed ${seed}: ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.ok(calls > 100, 'the fuzz pass made calls');
  rows.push({ n: rows.length + 1, target: 'Files/* (12 methods)', input: `fuzz: ${calls} mutated requests (seed ${seed})`, want: 'no INTERNAL/UNKNOWN', got: { status: Object.keys(Object.fromEntries(seen)).join(', '), details: '', messages: 0 } });
});

test.run();
