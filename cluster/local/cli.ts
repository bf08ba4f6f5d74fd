/**
 * `blockstore cluster up|down|clean|status|scale|logs|supervise`: the local
 * cluster on one machine, everything under one state directory.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helpText, parseFlags, UsageError, type FlagSpec } from '../../lib/cli/flags';
import { createLogger } from '../../lib/logger';
import { waitFor } from '../../lib/wait';
import { MetaRouter } from '../../lib/rpc/clients/meta-router';
import { BlockstoreClient } from '../../sdk/client';
import { Membership } from '../../coordination/membership';
import { hashToken, newToken } from '../../lib/auth/tokens';
import { consolePort, DEFAULT_CONFIG, hostCores, StateDir, type ClusterConfig } from './layout';
import { Supervisor } from './supervisor';
import { detectCpuControl, localHosts } from './hosts';
import { writeEds } from '../envoy/eds';
import { findEnvoy } from '../envoy/local-config';
import { BLOCKSTORE_BIN as BIN, ROOT } from '../../lib/root';


export const FLAGS: FlagSpec[] = [
  { name: 'state', env: 'BLOCKSTORE_STATE_DIR', type: 'string', value: 'DIR', default: join(ROOT, '.cluster'), help: 'state directory (data, logs, PIDs, tokens)' },
  { name: 'balancer-port', env: 'BLOCKSTORE_BALANCER_PORT', type: 'string', value: 'PORT', help: `balancer port (default ${DEFAULT_CONFIG.balancerPort})` },
  { name: 'base-port', env: 'BLOCKSTORE_BASE_PORT', type: 'string', value: 'PORT', help: `node ports: base+100+i block daemons, +200+i metadata, +300+i gateways; HTTP side ports +500+i, +600+i, +400+i (default ${DEFAULT_CONFIG.basePort})` },
  { name: 'etcd-port', env: 'BLOCKSTORE_ETCD_PORT', type: 'string', value: 'PORT', help: `etcd client port; the peer port is the next one (default ${DEFAULT_CONFIG.etcdClientPort})` },
  { name: 'gateways', env: 'BLOCKSTORE_GATEWAYS', type: 'string', value: 'N', help: 'gateways (default 2)' },
  { name: 'blockds', env: 'BLOCKSTORE_BLOCKDS', type: 'string', value: 'N', help: 'block daemons (default 3)' },
  { name: 'balancer-slots', env: 'BLOCKSTORE_BALANCER_SLOTS', type: 'string', value: 'N', help: `up: gateway slots in the balancer, the most gateways it can hold (default ${DEFAULT_CONFIG.balancerSlots}; kept for later ups)` },
  { name: 'json', type: 'boolean', help: 'machine-readable output (status)' },
  { name: 'wipe', type: 'boolean', help: 'down: also delete the state directory' },
  { name: 'host-cpu', env: 'BLOCKSTORE_HOST_CPU', type: 'string', value: 'CORES', help: 'up: run each metadata node, block daemon and gateway in a simulated host of its own with this CPU budget (a cgroup quota, e.g. 0.2); 0 for none. Kept for later ups and scale-outs' },
  { name: 'meta-host-cpu', env: 'BLOCKSTORE_META_HOST_CPU', type: 'string', value: 'CORES', help: 'up: the metadata nodes\' budget when it differs from --host-cpu' },
  { name: 'tls', type: 'boolean', help: 'up: TLS on the balancer and gateways, mutual TLS between nodes (a local CA under <state>/tls; kept for later ups)' },
  { name: 'lines', type: 'string', value: 'N', default: '50', help: 'logs: lines per log' },
  { name: 'follow', short: 'f', type: 'boolean', help: 'logs: then keep printing what they add, each line marked with its node (new nodes\' logs too; Ctrl-C stops)' },
  { name: 'etcd', env: 'BLOCKSTORE_ETCD', type: 'string', value: 'URL[,URL…]', help: 'envoy-eds: etcd endpoints' },
  { name: 'out', type: 'string', value: 'DIR', default: '/etc/blockstore/envoy', help: 'envoy-eds: the directory Envoy watches' },
  { name: 'watch', type: 'boolean', help: 'envoy-eds: keep rewriting as membership changes' },
];

const USAGE = 'blockstore cluster up|down|clean|status|scale ROLE=N…|logs ROLE|ID [-f] [flags]';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags(argv, FLAGS);
  const [sub, ...rest] = positionals;
  if (help || !sub) {
    process.stdout.write(helpText(USAGE, 'Runs a whole blockstore cluster on this machine (etcd, 3 metadata nodes, block daemons, gateways, HAProxy, a supervisor).', FLAGS));
    return help ? 0 : 2;
  }
  const dir = new StateDir(values.state as string);
  if (sub !== 'envoy-eds' && sub !== 'down' && sub !== 'clean' && (dir.exists() || sub === 'up')) {
    dir.ensure();
    dir.installCredentials(sub === 'up' ? config(dir, values) : dir.readConfig());
  }
  switch (sub) {
    case 'up':
      return up(dir, values);
    case 'down':
      return down(dir, values.wipe === true);
    case 'clean':
      return down(dir, true);
    case 'status':
      return status(dir, values.json === true);
    case 'scale':
      return scale(dir, rest);
    case 'logs':
      return logs(dir, rest[0], Number(values.lines), values.follow === true);
    case 'supervise':
      return supervise(dir);
    case 'envoy-eds':
      return envoyEds(values);
    default:
      throw new UsageError(`unknown cluster command ${JSON.stringify(sub)}; ${USAGE}`);
  }
}

function config(dir: StateDir, v: Record<string, string | boolean | undefined>): ClusterConfig {
  const c = dir.exists() ? dir.readConfig() : { ...DEFAULT_CONFIG, counts: { ...DEFAULT_CONFIG.counts } };
  if (v['balancer-port']) c.balancerPort = Number(v['balancer-port']);
  if (v['base-port']) c.basePort = Number(v['base-port']);
  if (v['etcd-port']) {
    c.etcdClientPort = Number(v['etcd-port']);
    c.etcdPeerPort = c.etcdClientPort + 1;
  }
  if (v.gateways) c.counts.gateway = Number(v.gateways);
  if (v.blockds) c.counts.blockd = Number(v.blockds);
  if (v.tls === true) c.tls = true;
  if (v['balancer-slots'] !== undefined) {
    const n = Number(v['balancer-slots']);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`--balancer-slots: a whole number from 1 to 1024, got ${JSON.stringify(v['balancer-slots'])}`);
    c.balancerSlots = n;
  }
  if (c.counts.gateway > c.balancerSlots) throw new UsageError(`${c.counts.gateway} gateways need at least as many balancer slots (--balancer-slots, now ${c.balancerSlots})`);
  if (v['host-cpu'] !== undefined) {
    const cores = Number(v['host-cpu']);
    if (!Number.isFinite(cores) || cores < 0 || cores > 64) throw new UsageError(`--host-cpu: cores per host (e.g. 0.2), got ${JSON.stringify(v['host-cpu'])}`);
    c.hostCpu = cores;
  }
  if (v['meta-host-cpu'] !== undefined) {
    const cores = Number(v['meta-host-cpu']);
    if (!Number.isFinite(cores) || cores < 0 || cores > 64) throw new UsageError(`--meta-host-cpu: cores per metadata host, got ${JSON.stringify(v['meta-host-cpu'])}`);
    c.metaHostCpu = cores;
  }
  if (c.hostCpu > 0) {
    // Say now, plainly, when the machine cannot give budgets (never run unlimited instead).
    const control = detectCpuControl();
    if ('unavailable' in control) throw new UsageError(`--host-cpu ${c.hostCpu}: this machine cannot give nodes a CPU budget: ${control.unavailable}`);
  }
  for (const [k, n] of Object.entries({ balancerPort: c.balancerPort, basePort: c.basePort, etcdClientPort: c.etcdClientPort })) {
    if (!Number.isInteger(n) || n < 1 || n > 65000) throw new UsageError(`${k}: a port, got ${n}`);
  }
  return c;
}

async function up(dir: StateDir, v: Record<string, string | boolean | undefined>): Promise<number> {
  dir.ensure();
  const c = config(dir, v);
  if (!dir.supervisorPid()) {
    dir.writeConfig(c);
    const out = openSync(dir.path('logs', 'supervisor.log'), 'a');
    const child = spawn(BIN, ['cluster', 'supervise', '--state', dir.dir], { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    process.stderr.write(`starting the cluster (supervisor pid ${child.pid}; logs in ${dir.path('logs')})…\n`);
    try {
      let exited = false;
      child.once('exit', () => (exited = true));
      await waitFor(
        'the cluster to come up',
        () => {
          if (exited) throw new Error('the supervisor exited');
          const s = dir.readState();
          return s?.ready && s.supervisorPid === child.pid ? true : undefined;
        },
        120_000,
        200,
        { fatal: (err) => (err as Error).message === 'the supervisor exited' },
      );
    } catch (err) {
      const tail = existsSync(dir.path('logs', 'supervisor.log')) ? readFileSync(dir.path('logs', 'supervisor.log'), 'utf8').split('\n').slice(-20).join('\n') : '';
      process.stderr.write(`${(err as Error).message}\n${tail}\n`);
      return 1;
    }
  } else {
    process.stderr.write('the cluster is already running\n');
  }
  await bootstrapTokens(dir, c);
  const address = `${c.host}:${c.balancerPort}`;
  const user = readFileSync(dir.path('user.token'), 'utf8').trim();
  const ca = dir.clientCa(c);
  const client = new BlockstoreClient({ address, token: user, timeoutMs: 5000, ca });
  try {
    await waitFor('a call through the balancer', () => client.usage().then(() => true), 30_000, 200);
  } finally {
    client.close();
  }
  process.stdout.write(`blockstore is up.
  address       ${address}   (HAProxy → ${c.counts.gateway} gateways; ${ca ? `TLS, CA ${dir.path('tls', 'ca.pem')}` : 'plaintext gRPC'})${c.hostCpu > 0 ? `
  hosts         every block daemon and gateway has ${c.hostCpu} core of CPU, every metadata node ${hostCores(c, 'meta')} (cgroup quotas)` : ''}
  console       ${findEnvoy() ? `on each gateway's HTTP side port, /console/ (the Envoy config does not route it)` : `${ca ? 'https' : 'http'}://${c.host}:${consolePort(c)}/console/   (sign in with a token below)`}
  admin token   ${dir.path('admin.token')}
  user token    ${dir.path('user.token')}   (user "user")
  state         ${dir.dir}
try:
  export BLOCKSTORE_ADDRESS=${address} BLOCKSTORE_TOKEN_FILE=${dir.path('user.token')}${ca ? ` BLOCKSTORE_CA_FILE=${dir.path('tls', 'ca.pem')}` : ''}
  bin/blockstore put README.md docs/README.md && bin/blockstore ls
  grpcurl ${ca ? `-cacert ${dir.path('tls', 'ca.pem')}` : '-plaintext'} -H "authorization: Bearer $(cat ${dir.path('user.token')})" ${address} blockstore.v1.Files/GetUsage
  bin/blockstore cluster status      (make cluster-status)      make cluster-down stops it; make cluster-clean wipes it
`);
  return 0;
}

/** Creates the admin and first user, once, straight through metadata. */
async function bootstrapTokens(dir: StateDir, c: ClusterConfig): Promise<void> {
  if (existsSync(dir.path('admin.token')) && existsSync(dir.path('user.token'))) return;
  const membership = new Membership([`http://${c.host}:${c.etcdClientPort}`]);
  const router = new MetaRouter({ discover: async () => (await membership.list('meta')).map((n) => n.address), writeDeadlineMs: 30_000 });
  try {
    for (const [user, scope, file] of [['admin', 'admin', 'admin.token'], ['user', 'user', 'user.token']] as const) {
      if (existsSync(dir.path(file))) continue;
      await router.write((m) => m.createUser(user, user, scope === 'admin' ? 0 : 100 * 1024 ** 3)).catch((err: { code?: string }) => {
        if (err.code !== 'ALREADY_EXISTS') throw err;
      });
      const t = newToken();
      await router.write((m) => m.issueToken(user, hashToken(t.token), t.tokenId, scope));
      writeFileSync(dir.path(file), `${t.token}\n`, { mode: 0o600 });
    }
  } finally {
    router.close();
    membership.close();
  }
}

async function down(dir: StateDir, wipe: boolean): Promise<number> {
  const pid = dir.supervisorPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    await waitFor('the supervisor to stop everything', () => (dir.supervisorPid() ? undefined : true), 90_000, 200);
    process.stderr.write(`stopped (supervisor pid ${pid})\n`);
  } else {
    // No supervisor (it crashed?): stop what state.json says it ran, by PID.
    const s = dir.readState();
    for (const n of s?.nodes ?? []) {
      try {
        process.kill(n.pid, 'SIGTERM');
        process.stderr.write(`stopped orphan ${n.id} (pid ${n.pid})\n`);
      } catch {
        /* not running */
      }
    }
  }
  if (wipe) {
    rmSync(dir.dir, { recursive: true, force: true });
    process.stderr.write(`wiped ${dir.dir}\n`);
  }
  return 0;
}

async function status(dir: StateDir, json: boolean): Promise<number> {
  const s = dir.readState();
  if (!dir.supervisorPid() || !s) {
    process.stdout.write(json ? '{"running":false}\n' : 'the cluster is not running\n');
    return 3;
  }
  const c = dir.readConfig();
  const admin = new BlockstoreClient({ address: `${c.host}:${c.balancerPort}`, token: readFileSync(dir.path('admin.token'), 'utf8').trim(), timeoutMs: 5000, ca: dir.clientCa(c) });
  try {
    const st = await admin.clusterStatus();
    const pids = new Map(s.nodes.map((n) => [n.id, n]));
    const hosts = c.hostCpu > 0 ? localHosts(dir.dir) : undefined;
    const host = (id: string) => (pids.get(id)?.hostCpu ? hosts?.usage(id) : undefined);
    const nodes = [
      ...st.nodes.map((n) => ({ ...n, pid: n.pid || pids.get(n.id)?.pid || 0, restarts: pids.get(n.id)?.restarts ?? 0, host: host(n.id) })),
      ...s.nodes.filter((n) => n.role === 'etcd' || n.role === 'haproxy').map((n) => ({ id: n.id, kind: n.role, address: n.address, role: n.role, state: 'up', pid: n.pid, restarts: n.restarts })),
    ];
    if (json) {
      process.stdout.write(`${JSON.stringify({ running: true, supervisorPid: s.supervisorPid, ...st, nodes, actions: s.actions })}\n`);
      return 0;
    }
    process.stdout.write(`master ${st.masterId} (epoch ${st.epoch}, commit position ${st.commitPosition}), synchronous replicas: ${st.syncReplicas.join(', ') || 'none'}\n`);
    process.stdout.write(`blocks ${st.blocks}, ${st.blockBytes} bytes of ${st.capacityBytes}, corrupt ${st.corruptBlocks}, under-replicated ${st.underReplicatedBlocks}, unavailable ${st.unavailableBlocks} (repair: ${st.repairLeader || 'none yet'} ${st.repairLastPass})\n`);
    process.stdout.write(`supervisor pid ${s.supervisorPid}\n\n`);
    for (const n of nodes) {
      const extra = n.kind === 'meta' ? `lag ${'replicationLag' in n ? n.replicationLag : 0}` : n.kind === 'blockd' && 'usedBytes' in n ? `${n.usedBytes}/${n.capacityBytes} bytes, ${n.blocks} blocks, ${n.corruptBlocks} corrupt` : '';
      const metrics = 'metricsAddress' in n && n.metricsAddress ? `metrics http://${n.metricsAddress}/metrics` : '';
      const h = 'host' in n ? n.host : undefined;
      const budget = h ? `host ${h.quotaCores} core, used ${h.cpuSeconds === undefined ? '?' : h.cpuSeconds.toFixed(1)} s CPU, throttled ${h.throttledPeriods}× ` : '';
      process.stdout.write(`${n.kind.padEnd(8)} ${n.id.padEnd(8)} ${n.address.padEnd(16)} pid ${String(n.pid).padEnd(8)} ${n.role.padEnd(8)} ${n.state.padEnd(6)} ${budget}${extra} ${metrics}\n`);
    }
    process.stdout.write(`\nrecent supervisor actions:\n${s.actions.slice(-8).map((a) => `  ${a.time} ${a.action}`).join('\n')}\n`);
    return 0;
  } finally {
    admin.close();
  }
}

async function scale(dir: StateDir, args: string[]): Promise<number> {
  if (!dir.exists()) throw new UsageError('no cluster here; run cluster up first');
  const c = dir.readConfig();
  for (const a of args) {
    const m = /^(gateway|blockd)=(\d+)$/.exec(a);
    if (!m) throw new UsageError(`scale takes gateway=N and/or blockd=N, got ${JSON.stringify(a)}`);
    const n = Number(m[2]);
    if (n < 1 || (m[1] === 'blockd' && n < c.writeQuorum)) throw new UsageError(`${m[1]}: at least ${m[1] === 'blockd' ? c.writeQuorum : 1}`);
    if (m[1] === 'gateway' && n > c.balancerSlots) {
      throw new UsageError(`gateway: the balancer has ${c.balancerSlots} slots; more gateways need cluster down, then cluster up --balancer-slots ${n} (data is kept)`);
    }
    c.counts[m[1] as 'gateway' | 'blockd'] = n;
  }
  dir.writeConfig(c);
  await waitFor(
    'the supervisor to converge',
    () => {
      const s = dir.readState();
      if (!s) return undefined;
      const count = (role: string) => s.nodes.filter((n) => n.role === role).length;
      return count('gateway') === c.counts.gateway && count('blockd') === c.counts.blockd ? true : undefined;
    },
    120_000,
    200,
  );
  // Started is not yet usable: return once the cluster itself lists every
  // gateway and block daemon as up (registered in etcd), so that what an
  // operator runs next — status, traffic — sees the new nodes.
  const want = new Set(dir.readState()!.nodes.filter((n) => n.role === 'gateway' || n.role === 'blockd').map((n) => n.id));
  const admin = new BlockstoreClient({ address: `${c.host}:${c.balancerPort}`, token: readFileSync(dir.path('admin.token'), 'utf8').trim(), timeoutMs: 5000, ca: dir.clientCa(c) });
  try {
    await waitFor(
      'the new nodes to register',
      async () => {
        const st = await admin.clusterStatus().catch(() => undefined);
        if (!st) return undefined;
        // Registered and answering; a node being drained counts (it is still a member).
        const up = new Set(st.nodes.filter((n) => n.state === 'up' || n.state === 'serving' || n.state === 'draining').map((n) => n.id));
        return [...want].every((id) => up.has(id)) ? true : undefined;
      },
      60_000,
      200,
    );
  } finally {
    admin.close();
  }
  process.stdout.write(`scaled: ${c.counts.gateway} gateways, ${c.counts.blockd} block daemons\n`);
  return 0;
}

async function logs(dir: StateDir, which: string | undefined, lines: number, follow: boolean): Promise<number> {
  if (!which) throw new UsageError('logs takes a role (meta, blockd, gateway, etcd, haproxy, supervisor) or a node id');
  const matching = () =>
    readdirSync(dir.path('logs'))
      .filter((f) => {
        const id = f.replace(/\.log$/, '');
        return id === which || ({ meta: /^m\d+$/, blockd: /^b\d+$/, gateway: /^g\d+$/ } as Record<string, RegExp>)[which]?.test(id);
      })
      .sort();
  const files = matching();
  if (!files.length && !follow) throw new UsageError(`no logs for ${which}`);
  const offsets = new Map<string, number>();
  for (const f of files) {
    const text = readFileSync(dir.path('logs', f), 'utf8');
    offsets.set(f, Buffer.byteLength(text));
    process.stdout.write(`==> ${f} <==\n${text.split('\n').slice(-lines - 1).join('\n')}\n`);
  }
  if (!follow) return 0;
  // Like tail -F over every matching log: appended lines as they come, each
  // marked with its node; a log that appears later (a new node) is followed
  // from its start, one that was truncated from its new end.
  let stop = false;
  process.once('SIGINT', () => (stop = true));
  process.once('SIGTERM', () => (stop = true));
  const partial = new Map<string, string>();
  while (!stop) {
    for (const f of matching()) {
      const path = dir.path('logs', f);
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        continue;
      }
      const from = offsets.get(f) ?? 0;
      if (size < from) offsets.set(f, size);
      if (size <= from) continue;
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - from, 4 * 1024 * 1024));
        const n = readSync(fd, buf, 0, buf.length, from);
        offsets.set(f, from + n);
        const text = (partial.get(f) ?? '') + buf.subarray(0, n).toString('utf8');
        const parts = text.split('\n');
        partial.set(f, parts.pop()!);
        const id = f.replace(/\.log$/, '');
        if (parts.length) process.stdout.write(parts.map((l) => `${id} | ${l}\n`).join(''));
      } finally {
        closeSync(fd);
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return 0;
}

/** Writes Envoy's EDS file from etcd membership (once, or every second with --watch). */
async function envoyEds(v: Record<string, string | boolean | undefined>): Promise<number> {
  if (!v.etcd) throw new UsageError('envoy-eds needs --etcd');
  const membership = new Membership(String(v.etcd).split(','));
  try {
    let last = '';
    do {
      const gateways = await membership.list('gateway');
      const key = JSON.stringify(gateways.map((g) => [g.id, g.address, g.info.state]));
      if (key !== last) {
        writeEds(String(v.out), gateways);
        process.stderr.write(`wrote ${gateways.length} gateways to ${v.out}/gateways-eds.yaml\n`);
        last = key;
      }
      if (v.watch) await new Promise((r) => setTimeout(r, 1000));
    } while (v.watch);
    return 0;
  } finally {
    membership.close();
  }
}

async function supervise(dir: StateDir): Promise<number> {
  const logger = createLogger({ fields: { role: 'supervisor' } });
  const sup = new Supervisor(dir, logger);
  const stopped = new Promise<number>((resolve) => {
    const stop = () => void sup.stop().then(() => resolve(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  try {
    await sup.start();
  } catch (err) {
    logger.error('cluster failed to start', { err: err as Error });
    await sup.stop();
    return 1;
  }
  return stopped;
}
