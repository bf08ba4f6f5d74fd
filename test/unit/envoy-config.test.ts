/**
 * The shipped Envoy configuration, checked against Envoy's own API protos
 * (from @grpc/grpc-js-xds): every field known, every typed config resolved,
 * every enum value valid. Envoy itself cannot be installed here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as protobuf from 'protobufjs';
import { parse } from 'yaml';
import { edsDocument } from '../../cluster/envoy/eds';
import { makeTempDir, removeDir } from '../harness/temp';

const ROOT = join(__dirname, '..', '..');
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE = ['envoy-api', 'xds', 'protoc-gen-validate', 'googleapis'].map((d) => join(DEPS, d));
const PB_GOOGLE = dirname(require.resolve('protobufjs/package.json'));

function loadRoot(files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target.startsWith('google/protobuf/')) return join(PB_GOOGLE, target);
    for (const dir of INCLUDE) {
      const p = join(dir, target);
      try {
        readFileSync(p);
        return p;
      } catch {
        /* next */
      }
    }
    return target;
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot([
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
]);

const WKT_AS_STRING = new Set(['google.protobuf.Duration', 'google.protobuf.Timestamp']);
const WRAPPERS = /^google\.protobuf\.(UInt32|UInt64|Int32|Int64|Bool|String|Double|Float|Bytes)Value$/;

/** Problems found validating `value` as a `type` message (path-qualified). */
function validate(type: protobuf.Type, value: unknown, path: string, problems: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: expected an object for ${type.fullName}`);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (type.fullName === '.google.protobuf.Any') {
    const url = obj['@type'];
    if (typeof url !== 'string') return void problems.push(`${path}: Any without @type`);
    const name = url.slice(url.lastIndexOf('/') + 1);
    let inner: protobuf.Type;
    try {
      inner = root.lookupType(name);
    } catch {
      return void problems.push(`${path}: unknown typed config ${name}`);
    }
    const { ['@type']: _, ...rest } = obj;
    return validate(inner, rest, `${path}<${name}>`, problems);
  }
  if (type.fullName === '.google.protobuf.Struct') return;
  for (const [key, v] of Object.entries(obj)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => f.options?.json_name === key);
    if (!field) {
      problems.push(`${path}.${key}: no such field in ${type.fullName}`);
      continue;
    }
    const items = field.repeated ? (Array.isArray(v) ? v : (problems.push(`${path}.${key}: expected a list`), [])) : [v];
    if (field.map) {
      if (typeof v !== 'object' || v === null) problems.push(`${path}.${key}: expected a map`);
      else for (const [mk, mv] of Object.entries(v)) checkValue(field, mv, `${path}.${key}[${mk}]`, problems);
      continue;
    }
    items.forEach((item, i) => checkValue(field, item, field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`, problems));
  }
}

function checkValue(field: protobuf.Field, v: unknown, path: string, problems: string[]): void {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string' && !(v in rt.values)) problems.push(`${path}: ${v} is not a value of ${rt.fullName}`);
    return;
  }
  if (rt instanceof protobuf.Type) {
    const name = rt.fullName.slice(1);
    if (WKT_AS_STRING.has(name)) {
      if (typeof v !== 'string' || !/^-?\d+(\.\d+)?s$/.test(v)) problems.push(`${path}: a duration like "1.5s", got ${JSON.stringify(v)}`);
      return;
    }
    if (WRAPPERS.test(name) && typeof v !== 'object') return;
    return validate(rt, v, path, problems);
  }
  const scalar = field.type;
  if (scalar === 'string' && typeof v !== 'string') problems.push(`${path}: expected a string`);
  if (scalar === 'bool' && typeof v !== 'boolean') problems.push(`${path}: expected true or false`);
  if (/int|fixed/.test(scalar) && !(typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v)))) problems.push(`${path}: expected an integer`);
}

test('cluster/envoy/envoy.yaml is a valid envoy.config.bootstrap.v3.Bootstrap', () => {
  const doc = parse(readFileSync(join(ROOT, 'cluster', 'envoy', 'envoy.yaml'), 'utf8'));
  const problems: string[] = [];
  validate(root.lookupType('envoy.config.bootstrap.v3.Bootstrap'), doc, 'bootstrap', problems);
  assert.equal(problems, []);
  // What the config must do, not only that it parses.
  const text = JSON.stringify(doc);
  for (const needle of ['http_health_check', 'consoles-eds.yaml', 'grpc_health_check', 'outlier_detection', 'unavailable,reset,connect-failure,refused-stream', 'envoy.retry_host_predicates.previous_hosts', 'path_config_source', 'ROUND_ROBIN', 'DownstreamTlsContext', 'UpstreamTlsContext', 'trusted_ca']) {
    assert.ok(text.includes(needle), needle);
  }
});

test('both balancers replay the same calls: writes a replay could apply twice only when they never reached a gateway', async () => {
  const { REPLAY_UNSAFE } = await import('../../cluster/local/haproxy');
  const doc = parse(readFileSync(join(ROOT, 'cluster', 'envoy', 'envoy.yaml'), 'utf8'));
  const routes = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes as Array<{ match: { path?: string; prefix?: string }; route: { retry_policy?: { retry_on: string } } }>;
  const exact = routes.filter((r) => r.match.path);
  assert.equal(exact.map((r) => r.match.path).sort(), [...REPLAY_UNSAFE].sort(), 'Envoy names the same unsafe writes as HAProxy');
  for (const r of exact) assert.equal(r.route.retry_policy?.retry_on.split(',').sort(), ['connect-failure', 'refused-stream'], r.match.path);
  const prefix = routes.findIndex((r) => r.match.prefix === '/blockstore.v1.');
  assert.ok(prefix > routes.indexOf(exact[exact.length - 1]!), 'the exact routes come first (Envoy takes the first match)');
  // Every public method is classified: a new write must be added to the unsafe list on purpose.
  const SAFE = ['GetClusterStatus', 'ListUsers', 'RevokeToken', 'DrainNode', 'GetFile', 'StatFile', 'ListFiles', 'ListVersions', 'FindMissingBlocks', 'PutBlocks', 'Watch', 'GetUsage'];
  for (const file of ['files', 'admin']) {
    const text = readFileSync(join(ROOT, 'proto', 'blockstore', 'v1', `${file}.proto`), 'utf8');
    const service = file === 'files' ? 'Files' : 'Admin';
    for (const m of text.matchAll(/^\s*rpc (\w+)\(/gm)) {
      const path = `/blockstore.v1.${service}/${m[1]}`;
      assert.ok(SAFE.includes(m[1]!) !== REPLAY_UNSAFE.includes(path), `${path} is classified exactly once (safe to replay or not)`);
    }
  }
});

test('the local cluster variant (cluster up with ENVOY_BIN) is valid too and points at the state directory', async () => {
  const { localEnvoyConfig, findEnvoy } = await import('../../cluster/envoy/local-config');
  const text = localEnvoyConfig({ host: '127.0.0.1', port: 17000, consolePort: 17080, adminPort: 17099, edsDir: '/tmp/state/envoy' });
  const doc = parse(text);
  const problems: string[] = [];
  validate(root.lookupType('envoy.config.bootstrap.v3.Bootstrap'), doc, 'bootstrap', problems);
  assert.equal(problems, []);
  assert.match(text, 'port_value: 17000');
  assert.match(text, 'port_value: 17099');
  assert.match(text, '/tmp/state/envoy/gateways-eds.yaml');
  assert.match(text, 'port_value: 17080');
  assert.match(text, '/tmp/state/envoy/consoles-eds.yaml');
  assert.not.match(text, 'path: /etc/blockstore');
  assert.not.match(text, 'transport_socket', 'a plaintext local cluster: no TLS blocks');
  const tls = localEnvoyConfig({ host: '127.0.0.1', port: 17000, consolePort: 17080, adminPort: 17099, edsDir: '/tmp/state/envoy', tls: { ca: '/s/tls/ca.pem', cert: '/s/tls/node.pem', key: '/s/tls/node.key' } });
  const tproblems: string[] = [];
  validate(root.lookupType('envoy.config.bootstrap.v3.Bootstrap'), parse(tls), 'bootstrap', tproblems);
  assert.equal(tproblems, []);
  for (const f of ['/s/tls/ca.pem', '/s/tls/node.pem', '/s/tls/node.key']) assert.match(tls, `filename: ${f}`);
  assert.not.match(tls, '/etc/blockstore/tls');
  // Browsers reach the console over TLS; the side ports behind it speak plain HTTP.
  const tdoc = parse(tls) as { static_resources: { listeners: Array<{ name: string; filter_chains: Array<{ transport_socket?: unknown }> }>; clusters: Array<{ name: string; transport_socket?: unknown }> } };
  assert.ok(tdoc.static_resources.listeners.find((l) => l.name === 'console')?.filter_chains[0]?.transport_socket);
  assert.is(tdoc.static_resources.clusters.find((c) => c.name === 'consoles')?.transport_socket, undefined);
  // Upstream TLS checks the gateway's name, and the local certificate carries it.
  assert.match(readFileSync(join(__dirname, '../../cluster/envoy/envoy.yaml'), 'utf8'), 'exact: gateway.blockstore.internal');
  assert.match(tls, 'matcher: { exact: localhost }');
  const { ensureLocalTls } = await import('../../cluster/local/tls');
  const dir = makeTempDir('envoy-tls');
  try {
    const t = ensureLocalTls(dir, ['127.0.0.1']);
    assert.match(new X509Certificate(readFileSync(t.cert)).subjectAltName ?? '', 'DNS:localhost');
  } finally {
    removeDir(dir);
  }
  assert.is(findEnvoy({ ENVOY_BIN: '/opt/envoy/bin/envoy', PATH: '' }), '/opt/envoy/bin/envoy');
  assert.is(findEnvoy({ PATH: '/nonexistent' }), undefined);
});

test('the validator catches unknown fields, bad enums and unknown typed configs (it can fail)', () => {
  const problems: string[] = [];
  validate(root.lookupType('envoy.config.bootstrap.v3.Bootstrap'), {
    static_resources: { clusters: [{ name: 'x', lb_policy: 'RANDOMISH', conect_timeout: '1s', typed_extension_protocol_options: { a: { '@type': 'type.googleapis.com/no.such.Type' } } }] },
  }, 'bootstrap', problems);
  assert.ok(problems.some((p) => p.includes('conect_timeout')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('RANDOMISH')));
  assert.ok(problems.some((p) => p.includes('no.such.Type')));
});

test('the generated EDS file is a valid DiscoveryResponse of ClusterLoadAssignments, draining gateways left out', () => {
  const now = new Date().toISOString();
  const text = edsDocument(
    [
      { id: 'g1', role: 'gateway', address: '10.0.0.5:7301', pid: 1, startedAt: now, updatedAt: now, info: { state: 'serving' } },
      { id: 'g2', role: 'gateway', address: '10.0.0.6:7301', pid: 2, startedAt: now, updatedAt: now, info: { state: 'draining' } },
    ],
    'v1',
  );
  const doc = parse(text);
  const problems: string[] = [];
  validate(root.lookupType('envoy.service.discovery.v3.DiscoveryResponse'), doc, 'eds', problems);
  assert.equal(problems, []);
  assert.match(text, '10.0.0.5');
  assert.not.match(text, '10.0.0.6');
  // The console's endpoints: the same serving gateways, at their side ports.
  const consoles = edsDocument(
    [
      { id: 'g1', role: 'gateway', address: '10.0.0.5:7301', pid: 1, startedAt: now, updatedAt: now, info: { state: 'serving', httpAddress: '10.0.0.5:7401' } },
      { id: 'g2', role: 'gateway', address: '10.0.0.6:7301', pid: 2, startedAt: now, updatedAt: now, info: { state: 'draining', httpAddress: '10.0.0.6:7401' } },
      { id: 'g3', role: 'gateway', address: '10.0.0.7:7301', pid: 3, startedAt: now, updatedAt: now, info: { state: 'serving' } },
    ],
    'v1',
    'consoles',
  );
  const p3: string[] = [];
  validate(root.lookupType('envoy.service.discovery.v3.DiscoveryResponse'), parse(consoles), 'eds', p3);
  assert.equal(p3, []);
  assert.match(consoles, 'cluster_name: consoles');
  assert.match(consoles, 'port_value: 7401');
  assert.not.match(consoles, '10.0.0.6', 'draining: left out');
  assert.not.match(consoles, '10.0.0.7', 'no side port: left out');
  const empty = parse(edsDocument([], 'v2'));
  const p2: string[] = [];
  validate(root.lookupType('envoy.service.discovery.v3.DiscoveryResponse'), empty, 'eds', p2);
  assert.equal(p2, []);
});

test.run();
