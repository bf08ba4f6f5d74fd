/**
 * HAProxy in front of the gateways (the local stand-in for Envoy): h2c both
 * ways, round robin, active checks on each gateway's /healthz side port,
 * retries with redispatch on connection failures, raised h2 stream limits
 * (the default of 100 streams per connection timed out most calls at
 * 400 calls/s). Membership changes go through the runtime API (no reload).
 */
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

/**
 * Gateways live in pre-allocated server slots (configured `server` lines,
 * disabled until used), filled and emptied through the runtime API. Servers added with `add server`
 * would be simpler, but HAProxy 2.6 keeps no idle connections for them:
 * every call then opens (and resets) a TCP + HTTP/2 connection to its
 * gateway — measured here, 1,559 connections for 1,559 calls and half the
 * throughput of configured servers. Slots are configured servers, so their
 * connections are pooled and reused (`http-reuse safe`). (Not
 * `server-template`: in 2.6 the checks of every templated server but the
 * first fail with a socket error.) An empty slot is never checked, but its
 * check task still wakes every `inter`: 62 empty slots cost HAProxy about
 * 0.008 cores at idle (measured; 0.0115 with 64 slots, 0.003 with 2), so a
 * cluster has few more slots than gateways (`balancerSlots`).
 */
export const GATEWAY_SLOTS = 16;
const SLOT = 'slot';
/** Where an empty slot points (it is in maintenance: never used, never checked; see GATEWAY_SLOTS). */
const NOWHERE = { host: '127.0.0.1', port: 9 };

/**
 * Check timings for every gateway: checked every 200 ms on the side port,
 * DOWN after two misses. A DOWN gateway's calls in flight are not cut
 * (`on-marked-down shutdown-sessions` would reset them, and a client sees
 * UNKNOWN "Stream removed"): short reads time out and are replayed
 * elsewhere (REPLAYABLE_READS), longer calls finish if the gateway comes
 * back or end at the client's deadline. HAProxy 2.6 still resets such a
 * read now and then instead of replaying it (a known gap, in the README):
 * its log shows those calls as `sD--` with status 200 — the gateway had
 * sent the response headers before it froze or died, and a response that
 * has begun cannot be replayed.
 */
const SERVER_CHECKS = 'inter 200ms fastinter 100ms downinter 500ms fall 2 rise 2';

/**
 * Unary reads: answered in milliseconds by a live gateway, safe to replay.
 * One that a gateway has not answered within READ_REPLAY_AFTER (a frozen or
 * dying gateway, a lost connection) is replayed on another.
 */
export const REPLAYABLE_READS = [
  '/blockstore.v1.Files/StatFile', '/blockstore.v1.Files/ListFiles', '/blockstore.v1.Files/ListVersions',
  '/blockstore.v1.Files/GetUsage', '/blockstore.v1.Files/FindMissingBlocks', '/blockstore.v1.Admin/GetClusterStatus',
];
const READ_REPLAY_AFTER = '1500ms';

/**
 * The answers HAProxy itself gives (no gateway could take the call, a
 * gateway failed before answering, a timeout) as gRPC statuses: HTTP
 * status kept for HAProxy's logs, `content-type: application/grpc` and
 * `grpc-status: 14` (UNAVAILABLE, which clients may retry) in a
 * trailers-only response, never an HTML page a gRPC client cannot parse.
 */
const BALANCER_ERRORS: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Methods that may change state twice if replayed (see the backend's comment). */
export const REPLAY_UNSAFE = [
  '/blockstore.v1.Files/PutFile', '/blockstore.v1.Files/DeleteFile', '/blockstore.v1.Files/MoveFile',
  '/blockstore.v1.Files/RestoreVersion', '/blockstore.v1.Files/CommitFile',
  '/blockstore.v1.Admin/CreateUser', '/blockstore.v1.Admin/IssueToken',
];

/**
 * The client-streaming methods (a request body of many messages: uploads).
 * They go to a backend of their own, `uploads`, whose slots track the
 * gateway slots (same gateways, same checks) but whose connections carry
 * only uploads. HAProxy 2.6's HTTP/2 mux reads a connection's frames in
 * order into one buffer per stream and stops reading the whole connection
 * when one stream's buffer is full. With uploads and downloads on one
 * connection to a gateway, that can close a cycle: the client connection
 * stops being read while a gateway holds back an upload (backpressure), so
 * the client's window updates for its downloads are not read; the
 * downloads fill their buffers on the gateway connection, which then stops
 * being read too; and the gateway's window update for the upload, the one
 * frame that would end it all, sits unread on that connection. Every call
 * on both connections then hangs for good (seen with one client mixing
 * uploads and downloads at 200 calls/s: every later call, from any client,
 * hung until its deadline). With uploads on their own gateway connections,
 * a held-back upload delays the calls behind it on the client's
 * connection, but the frame that releases it always gets read.
 */
export const UPLOAD_METHODS = ['/blockstore.v1.Files/PutFile', '/blockstore.v1.Files/PutBlocks'];

/** The backends whose slots carry calls to the gateway in the slot of the same name (the uploads' slots track the gateways' checks and drains). */
const CALL_BACKENDS = ['gateways', 'uploads'] as const;

/** Writes the balancer's gRPC error answers into `dir`; returns their `errorfile` lines. */
export function writeGrpcErrorFiles(dir: string): string[] {
  return Object.entries(BALANCER_ERRORS).map(([code, reason]) => {
    const file = join(dir, `grpc-${code}.http`);
    // grpc-message is percent-encoded only outside printable ASCII; this one is plain.
    const message = `balancer: ${code} ${reason.toLowerCase()}; no gateway answered the call`;
    writeFileSync(file, `HTTP/1.1 ${code} ${reason}\r\ncontent-type: application/grpc\r\ngrpc-status: 14\r\ngrpc-message: ${message}\r\ncontent-length: 0\r\n\r\n`);
    return `errorfile ${code} ${file}`;
  });
}

export function haproxyConfig(o: { bind: string; consoleBind?: string; socket: string; pidFile: string; errorFiles: string[]; tls?: { bundle: string; ca: string }; slots?: number }): string {
  // TLS: clients reach HAProxy over TLS (h2 by ALPN) and HAProxy reaches the
  // gateways over TLS, verifying them against the cluster CA.
  const bind = o.tls ? `${o.bind} ssl crt ${o.tls.bundle} alpn h2` : `${o.bind} proto h2`;
  const upstreamTls = o.tls ? ` ssl verify required ca-file ${o.tls.ca} alpn h2` : '';
  return `# Generated by blockstore cluster up. Gateways fill the slots at run time from etcd membership.
global
  stats socket ${o.socket} mode 600 level admin
  pidfile ${o.pidFile}
  maxconn 4000
  tune.h2.max-concurrent-streams 2000
  # Large uploads and downloads: 64 KiB buffers carry a file in a quarter of
  # the HTTP/2 frames 16 KiB ones do (fewer frames for every hop to parse).
  tune.bufsize 65536
  tune.h2.max-frame-size 65536
  # Calls that ended abnormally (a gateway failed, a timeout, a reset) are
  # logged to the balancer's log with HAProxy's termination state; normal
  # ones are not (a line per call would cost more than the call).
  log stderr format raw local0 info

defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  # Each gRPC call is an HTTP/2 stream of its own. HAProxy reads a gateway
  # connection's frames in order, so a client that stops reading a download
  # stalls every call on the gateway connection that carries it. "safe"
  # keeps a gateway connection to one client connection while it carries a
  # call, and pools it for any client once idle; "always" may put another
  # client's call on a busy one, where a paused reader would stall it too.
  http-reuse safe
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  timeout http-request 30s
  timeout queue 5s
  # A gateway's /healthz answers in about a millisecond; one that has not
  # answered in 200 ms is frozen or overloaded (two misses mark it DOWN).
  timeout check 200ms
  # HAProxy replays a call on another gateway when the first could not
  # take it (the backend excludes writes a replay could apply twice).
  retries 3
  retry-on conn-failure empty-response response-timeout
  option redispatch 1
  # What HAProxy answers itself reaches gRPC clients as UNAVAILABLE.
${o.errorFiles.map((l) => `  ${l}`).join('\n')}

frontend grpc
  bind ${bind}
  # Uploads travel on gateway connections of their own (UPLOAD_METHODS).
  acl upload path ${UPLOAD_METHODS.join(' ')}
  use_backend uploads if upload
  default_backend gateways

backend gateways
  balance roundrobin
  # Replaying a call a gateway took but never answered (empty-response,
  # response-timeout) is safe for reads and for writes that name their
  # blocks by content; a write with no idempotency key (the balancer cannot
  # see inside the message) could take effect twice, so those are replayed
  # only when the connection failed before the call was sent. Clients that
  # set idempotency keys (the SDK does) retry such writes themselves.
  acl replay_unsafe path ${REPLAY_UNSAFE.join(' ')}
  http-request disable-l7-retry if replay_unsafe
  # A unary read a gateway has not answered in ${READ_REPLAY_AFTER} goes to another
  # (retry-on response-timeout).
  acl unary_read path ${REPLAYABLE_READS.join(' ')}
  http-request set-timeout server ${READ_REPLAY_AFTER} if unary_read
  # 200: in service. 404 (a draining gateway): no new calls, calls in
  # flight finish. Anything else or no answer (a crashed or frozen gateway)
  # marks it DOWN: no new calls (see SERVER_CHECKS for those in flight).
  option httpchk GET /healthz
  http-check disable-on-404
  http-check expect status 200
${Array.from({ length: o.slots ?? GATEWAY_SLOTS }, (_, i) => `  server ${SLOT}${i + 1} ${NOWHERE.host}:${NOWHERE.port} disabled proto h2${upstreamTls} check port ${NOWHERE.port} check-proto h1 ${SERVER_CHECKS}`).join('\n')}
${uploadsSection(o.slots ?? GATEWAY_SLOTS, upstreamTls)}${o.consoleBind ? consoleSection(o.consoleBind, o.slots ?? GATEWAY_SLOTS, o.tls) : ''}`;
}

/**
 * The same gateways for uploads only (UPLOAD_METHODS): each slot tracks the
 * gateway slot of the same name, so it is up, draining or down when that
 * gateway is, and its checks are the gateway slot's.
 */
function uploadsSection(slots: number, upstreamTls: string): string {
  return `
backend uploads
  balance roundrobin
  acl replay_unsafe path ${REPLAY_UNSAFE.join(' ')}
  http-request disable-l7-retry if replay_unsafe
${trackingSlots(slots, `proto h2${upstreamTls}`)}
`;
}

/**
 * A backend's slots, each tracking the gateway slot of the same name (its
 * checks, drains and state); `serverOptions` go on every server line.
 */
function trackingSlots(slots: number, serverOptions: string): string {
  return `  # Tracking needs the tracked backend's 404 handling (its slots run the checks).
  option httpchk GET /healthz
  http-check disable-on-404
${Array.from({ length: slots }, (_, i) => `  server ${SLOT}${i + 1} ${NOWHERE.host}:${NOWHERE.port} disabled ${serverOptions}${serverOptions ? ' ' : ''}track gateways/${SLOT}${i + 1}`).join('\n')}`;
}

/**
 * The web console on one port across the gateways' HTTP side ports (HTTP/1.1;
 * TLS with the balancer's certificate when the cluster has TLS). Each slot
 * tracks the gateway slot of the same name: it is up, draining or down
 * when that gateway is.
 */
function consoleSection(bind: string, slots: number, tls?: { bundle: string }): string {
  return `
frontend console
  bind ${bind}${tls ? ` ssl crt ${tls.bundle}` : ''}
  timeout client 1h
  default_backend consoles

backend consoles
  balance roundrobin
  option redispatch 1
  retries 2
${trackingSlots(slots, '')}
`;
}

/** One command on the runtime API; resolves with its output. */
export function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`${command}\n`);
  });
}

/** `show servers state` operational state of a server its checks pass. */
export const SERVER_UP = 2;

export interface BackendServer {
  /** The slot's server name (slot1, slot2, …). */
  name: string;
  /** The gateway's gRPC address, or '' for an empty slot. */
  address: string;
  /** 0 stopped (DOWN), 1 starting, 2 running (UP), 3 stopping. */
  opState: number;
  /** Bit field: 0x01 maintenance (forced), 0x08 draining (forced); 0 in service. */
  adminState: number;
}

export async function backendServers(socket: string): Promise<BackendServer[]> {
  const out = await haproxyCommand(socket, 'show servers state gateways');
  const rows: BackendServer[] = [];
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 20 || f[0]!.startsWith('#') || f[1] !== 'gateways') continue;
    const address = `${f[4]}:${f[18]}`;
    const empty = address === `${NOWHERE.host}:${NOWHERE.port}`;
    rows.push({ name: f[3]!, address: empty ? '' : address, opState: Number(f[5]), adminState: Number(f[6]) });
  }
  return rows;
}

const FORCED_MAINT = 0x01;
const FORCED_DRAIN = 0x08;

/** A slot's state as people read it: maintenance (being emptied), down (checks fail), draining (no new calls) or up. */
export function slotState(s: BackendServer): 'maintenance' | 'down' | 'draining' | 'up' {
  return s.adminState & FORCED_MAINT ? 'maintenance' : s.opState !== SERVER_UP ? 'down' : s.adminState & FORCED_DRAIN ? 'draining' : 'up';
}

/** True when the slot takes new calls as far as the operator is concerned (its checks decide the rest). */
export function inService(s: BackendServer): boolean {
  return s.address !== '' && (s.adminState & (FORCED_MAINT | FORCED_DRAIN)) === 0;
}

/** Per-slot traffic counters (the gateways' and the uploads' backends: `gateways/slot1`, `uploads/slot1`, …): calls forwarded, connections opened, connections reused. */
export async function backendCounters(socket: string): Promise<Array<{ name: string; requests: number; connects: number; reuses: number }>> {
  const lines = (await haproxyCommand(socket, 'show stat')).split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const col = (f: string[], name: string) => Number(f[header.indexOf(name)] || 0);
  return lines
    .map((l) => l.split(','))
    .filter((f) => (CALL_BACKENDS as readonly string[]).includes(f[0]!) && f[1]?.startsWith(SLOT))
    .map((f) => ({ name: `${f[0]}/${f[1]}`, requests: col(f, 'req_tot'), connects: col(f, 'connect'), reuses: col(f, 'reuse') }));
}

/** The slot serving `address`, if any. */
export function slotOf(servers: BackendServer[], address: string): BackendServer | undefined {
  return servers.find((s) => s.address === address);
}

function splitHostPort(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}

/** Runs a runtime command; throws on an error answer (`tolerate`: an answer that is not one here). */
async function ok(socket: string, command: string, tolerate?: RegExp): Promise<void> {
  const r = (await haproxyCommand(socket, command)).trim();
  if (tolerate?.test(r)) return;
  // Successful runtime commands answer nothing or an informational line.
  if (/error|unknown|not found|invalid|require|cannot|can't|no such/i.test(r) && !/^IP changed|^no need to change|port changed/i.test(r)) {
    throw new Error(`haproxy "${command}": ${r}`);
  }
}

/**
 * Puts a gateway (gRPC address; HTTP side address for checks) into an
 * empty slot and enables it; resolves to the slot's name.
 * @throws Error when every slot is taken.
 */
export async function addGateway(socket: string, address: string, checkAddress: string): Promise<string> {
  const servers = await backendServers(socket);
  const free = servers.find((s) => s.address === '');
  if (!free) throw new Error(`haproxy: all ${servers.length} gateway slots are taken`);
  const [host, port] = splitHostPort(address);
  const [checkHost, checkPort] = splitHostPort(checkAddress);
  for (const backend of CALL_BACKENDS) await ok(socket, `set server ${backend}/${free.name} addr ${host} port ${port}`);
  await ok(socket, `set server gateways/${free.name} check-addr ${checkHost} port ${checkPort}`);
  await consoleSlot(socket, free.name, `addr ${checkHost} port ${checkPort}`);
  await ok(socket, `enable health gateways/${free.name}`);
  for (const backend of CALL_BACKENDS) await ok(socket, `set server ${backend}/${free.name} state ready`);
  await consoleSlot(socket, free.name, 'state ready');
  return free.name;
}

/** A drained slot's gateway back in service. */
export async function readyGateway(socket: string, slot: string): Promise<void> {
  await ok(socket, `enable health gateways/${slot}`);
  await ok(socket, `set server gateways/${slot} state ready`);
}

/** No new calls to a slot's gateway; calls in flight finish. */
export async function drainGateway(socket: string, slot: string): Promise<void> {
  await ok(socket, `set server gateways/${slot} state drain`);
}

/** Empties a slot whose gateway no longer runs (or has drained): its connections are closed. */
export async function removeGateway(socket: string, slot: string): Promise<void> {
  for (const backend of CALL_BACKENDS) {
    await ok(socket, `set server ${backend}/${slot} state maint`);
    await ok(socket, `shutdown sessions server ${backend}/${slot}`);
    await ok(socket, `set server ${backend}/${slot} addr ${NOWHERE.host} port ${NOWHERE.port}`);
  }
  await consoleSlot(socket, slot, 'state maint');
  await consoleSlot(socket, slot, `addr ${NOWHERE.host} port ${NOWHERE.port}`);
}

/** The console slot mirroring a gateway slot (a config without the console has none: nothing to do). */
function consoleSlot(socket: string, slot: string, change: string): Promise<void> {
  return ok(socket, `set server consoles/${slot} ${change}`, /No such backend/i);
}
