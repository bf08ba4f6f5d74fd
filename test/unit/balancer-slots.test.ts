/**
 * The balancer's gateway slots: as many as the cluster asks for (an empty
 * one still costs HAProxy a wake-up every check interval), and never fewer
 * than its gateways — `cluster up` and `cluster scale` refuse, saying how
 * to get more, before anything starts or changes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../../cluster/local/cli';
import { DEFAULT_CONFIG, StateDir } from '../../cluster/local/layout';
import { haproxyConfig, GATEWAY_SLOTS, UPLOAD_METHODS } from '../../cluster/local/haproxy';
import { loadProtos } from '../../lib/rpc/proto';
import { makeTempDir, removeDir } from '../harness/temp';

async function refusal(argv: string[]): Promise<string> {
  try {
    await main(argv);
  } catch (err) {
    return (err as Error).message;
  }
  assert.unreachable(`${argv.join(' ')} was not refused`);
  return '';
}

test('the generated HAProxy config has one checked server per slot, and a console server tracking each', () => {
  const cfg = (slots?: number) => haproxyConfig({ bind: '127.0.0.1:1', consoleBind: '127.0.0.1:2', socket: '/s', pidFile: '/p', errorFiles: [], slots });
  const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;
  assert.is(count(cfg(), /^ {2}server slot\d+ .* check port/), GATEWAY_SLOTS);
  assert.is(GATEWAY_SLOTS, DEFAULT_CONFIG.balancerSlots);
  assert.is(count(cfg(3), /^ {2}server slot\d+ .* check port/), 3);
  assert.is(count(section(cfg(3), 'backend consoles'), /^ {2}server slot\d+ .* track gateways\/slot\d+$/), 3);
});

/** The lines of one section (from its header to the next blank line). */
function section(cfg: string, header: string): string {
  const start = cfg.indexOf(`\n${header}\n`);
  assert.ok(start >= 0, `no "${header}" section`);
  return cfg.slice(start + 1).split('\n\n')[0]!;
}

test('uploads go to a backend of their own: the same gateway slots, tracked, on connections that carry only uploads', () => {
  const cfg = haproxyConfig({ bind: '127.0.0.1:1', socket: '/s', pidFile: '/p', errorFiles: [], slots: 3 });
  const uploads = section(cfg, 'backend uploads');
  assert.is(uploads.split('\n').filter((l) => /^ {2}server slot\d+ .* proto h2 track gateways\/slot\d+$/.test(l)).length, 3);
  assert.match(uploads, 'http-request disable-l7-retry if replay_unsafe');
  const frontend = section(cfg, 'frontend grpc');
  assert.match(frontend, `acl upload path ${UPLOAD_METHODS.join(' ')}`);
  assert.match(frontend, 'use_backend uploads if upload');
  assert.match(cfg, /^ {2}http-reuse safe$/m, 'a gateway connection carries one client connection\'s calls while busy');
  // Every client-streaming method of the public API, and nothing else.
  const { protos } = loadProtos();
  const streaming: string[] = [];
  for (const svc of [protos.blockstore.v1.Files, protos.blockstore.v1.Admin]) {
    for (const m of Object.values(svc.service)) if (m.requestStream) streaming.push(m.path);
  }
  assert.equal([...UPLOAD_METHODS].sort(), streaming.sort());
});

test('scale refuses more gateways than slots, and leaves the cluster as it was', async () => {
  const root = makeTempDir('slots');
  try {
    const dir = new StateDir(root);
    dir.ensure();
    dir.writeConfig({ ...DEFAULT_CONFIG, counts: { ...DEFAULT_CONFIG.counts }, balancerSlots: 3 });
    const message = await refusal(['scale', 'gateway=4', '--state', root]);
    assert.match(message, 'the balancer has 3 slots');
    assert.match(message, '--balancer-slots 4');
    assert.is(dir.readConfig().counts.gateway, DEFAULT_CONFIG.counts.gateway, 'cluster.json unchanged');
  } finally {
    removeDir(root);
  }
});

test('up refuses more gateways than slots, and slots that are not a whole number from 1 to 1024', async () => {
  const root = makeTempDir('slots');
  try {
    assert.match(await refusal(['up', '--state', root, '--gateways', '5', '--balancer-slots', '4']), '5 gateways need at least as many balancer slots');
    for (const bad of ['0', '2.5', 'many', '1025']) assert.match(await refusal(['up', '--state', root, '--balancer-slots', bad]), '--balancer-slots');
    assert.not.ok(new StateDir(root).exists(), 'no cluster.json written');
  } finally {
    removeDir(root);
  }
});

test.run();
