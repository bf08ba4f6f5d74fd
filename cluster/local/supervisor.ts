/**
 * The local supervisor (what Kubernetes or systemd does in production):
 * owns every process of the local cluster, keeps the desired count of each
 * role, restarts what crashes, and follows membership into HAProxy.
 *
 * - A metadata node that dies: if it was the master, its etcd lease is
 *   revoked at once (failover without waiting for the TTL); a replacement
 *   with a fresh data directory is provisioned (new id), which bootstraps
 *   from a snapshot and joins the synchronous set (QAS-002).
 * - A block daemon or gateway that dies is restarted with its data.
 * - `cluster.json` counts are re-read every second (`cluster scale`).
 * - Every action is logged and kept in state.json (`cluster status`).
 * - SIGTERM stops gateways (draining), the balancer, block daemons,
 *   metadata nodes, then etcd, each by PID, and exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import type { Logger } from '../../lib/logger';
import { MetaElection } from '../../coordination/meta-election';
import { Membership } from '../../coordination/membership';
import { connectEtcd, type Etcd3 } from '../../coordination/etcd';
import { nodesPrefix, operatorKey, type NodeRecord, type OperatorStatus } from '../../coordination/keys';
import { PrefixMirror } from '../../coordination/prefix-mirror';
import { ensureLocalTls } from './tls';
import { addGateway, backendServers, drainGateway, haproxyConfig, inService, readyGateway, removeGateway, SERVER_UP, slotOf, slotState, writeGrpcErrorFiles } from './haproxy';
import { findEnvoy, localEnvoyConfig } from '../envoy/local-config';
import { writeEds } from '../envoy/eds';
import { consolePort, hostCores, nodePort, type ClusterConfig, type NodeState, type StateDir, type SupervisorState } from './layout';
import { localHosts, type CpuHosts } from './hosts';
import { DrillRunner } from './drill';
import { BLOCKSTORE_BIN as BIN } from '../../lib/root';

/** How often the supervisor looks at processes, cluster.json counts and the balancer. */
const RECONCILE_MS = 500;
/** The balancer is checked against the registrations at least this often, changed or not. */
const BALANCER_BACKSTOP_MS = 5000;
/** The console's view of HAProxy's slots is at most this old. */
const STATUS_MS = 2000;
/** The watched gateway registrations are listed again this often (a watch is a shortcut, not the truth). */
const RELIST_MS = 10_000;

interface Child {
  state: NodeState;
  proc: ChildProcess;
  log: WriteStream;
  listening: Promise<void>;
  stopping: boolean;
  exited: Promise<void>;
}

export class Supervisor {
  private readonly children = new Map<string, Child>();
  private readonly actions: Array<{ time: string; action: string }> = [];
  private config: ClusterConfig;
  private stopping = false;
  private ready = false;
  private timer: NodeJS.Timeout | undefined;
  private membership: Membership | undefined;
  private coordinator: MetaElection | undefined;
  private readonly etcdUrl: string;
  private readonly socket: string;
  private syncing = false;
  /** The balancer is Envoy (membership through its EDS file) rather than HAProxy. */
  private envoy = false;
  private lastEds = '';
  private drainingSince = new Map<string, number>();
  /** Slots kept in service while their gateway is missing from etcd (see syncBalancer). */
  private readonly unlisted = new Set<string>();
  /** Simulated hosts with a CPU budget (cluster.json hostCpu > 0). */
  private readonly hosts: CpuHosts | undefined;
  /** Which gateway a HAProxy slot was given to (for the action log). */
  private readonly slotIds = new Map<string, string>();
  /** For publishing the operator status (see publishOperatorStatus). */
  private etcd: Etcd3 | undefined;
  private lastPublished = '';
  /** Runs the console's QAS-001 drills. */
  private drill: DrillRunner | undefined;
  /** Gateway registrations, kept current by an etcd watch (listed again every RELIST_MS). */
  private gatewayMirror: PrefixMirror | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  /** The gateway registrations changed since the balancer was last brought in line. */
  private gatewaysChanged = true;
  private lastBalancerSync = 0;
  /** HAProxy's servers as last read, and when (the console's balancer view). */
  private servers: { at: number; list: Awaited<ReturnType<typeof backendServers>> } | undefined;
  private lastSaved = '';

  constructor(
    private readonly dir: StateDir,
    private readonly logger: Logger,
  ) {
    this.config = dir.readConfig();
    this.etcdUrl = `http://${this.config.host}:${this.config.etcdClientPort}`;
    this.socket = dir.path('haproxy.sock');
    this.hosts = this.config.hostCpu > 0 ? localHosts(dir.dir) : undefined;
  }

  private act(action: string, fields: Record<string, unknown> = {}): void {
    this.logger.info(action, fields);
    this.actions.push({ time: new Date().toISOString(), action: `${action}${Object.keys(fields).length ? ' ' + JSON.stringify(fields) : ''}` });
    if (this.actions.length > 100) this.actions.splice(0, this.actions.length - 100);
    this.saveState();
  }

  /** Writes state.json when what it says has changed. */
  private saveState(): void {
    const s: Omit<SupervisorState, 'updatedAt'> = {
      supervisorPid: process.pid,
      nodes: [...this.children.values()].filter((c) => !c.stopping).map((c) => c.state),
      actions: this.actions.slice(-30),
      ready: this.ready,
    };
    const key = JSON.stringify(s);
    if (key === this.lastSaved) return;
    this.dir.writeState({ ...s, updatedAt: new Date().toISOString() });
    this.lastSaved = key;
  }

  /** Registered gateways: from the watched copy while the watch stands, else listed. */
  private async gateways(): Promise<NodeRecord[]> {
    const m = this.gatewayMirror;
    if (!m?.watching) return this.membership!.list('gateway');
    return [...m.entries.values()].map((v) => JSON.parse(v) as NodeRecord).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** HAProxy's servers, read now. */
  private async readServers(): Promise<Awaited<ReturnType<typeof backendServers>>> {
    const list = await backendServers(this.socket);
    this.servers = { at: Date.now(), list };
    return list;
  }

  /** Starts everything in order; resolves once the cluster is up. */
  async start(): Promise<void> {
    writeFileSync(this.dir.path('supervisor.pid'), String(process.pid));
    const c = this.config;
    await this.spawnNode('etcd', 'etcd', 'etcd', [
      '--name', 'etcd', '--data-dir', this.dir.path('data', 'etcd'),
      '--listen-client-urls', this.etcdUrl, '--advertise-client-urls', this.etcdUrl,
      '--listen-peer-urls', `http://${c.host}:${c.etcdPeerPort}`, '--initial-advertise-peer-urls', `http://${c.host}:${c.etcdPeerPort}`,
      '--initial-cluster', `etcd=http://${c.host}:${c.etcdPeerPort}`, '--log-level', 'warn',
    ], this.etcdUrl, 'probe');
    this.membership = new Membership([this.etcdUrl]);
    this.gatewayMirror = new PrefixMirror([this.etcdUrl], nodesPrefix('/blockstore/', 'gateway'), () => {
      this.gatewaysChanged = true;
      if (this.ready) void this.reconcile();
    });
    await this.gatewayMirror.start().catch((err: unknown) => this.logger.warn('gateway watch failed; listing instead', { err: err as Error }));
    this.relistTimer = setInterval(() => {
      if (this.gatewayMirror?.watching) void this.gatewayMirror.relist().catch(() => undefined);
      else void this.gatewayMirror?.start().catch(() => undefined);
    }, RELIST_MS);
    this.coordinator = new MetaElection({ etcd: [this.etcdUrl], prefix: '/blockstore/', ttlSeconds: c.leaseTtl, logger: this.logger });
    const metaIds = this.existingIds('meta', c.counts.meta);
    await Promise.all(metaIds.map((id) => this.startRole('meta', id)));
    await Promise.all(this.existingIds('blockd', c.counts.blockd).map((id) => this.startRole('blockd', id)));
    await this.startBalancer();
    await Promise.all(this.existingIds('gateway', c.counts.gateway).map((id) => this.startRole('gateway', id)));
    this.timer = setInterval(() => void this.reconcile(), RECONCILE_MS);
    await this.reconcile();
    this.ready = true;
    this.act('cluster up');
    this.drill = new DrillRunner(this.dir, this.etcdUrl, '/blockstore/', () => void this.publishOperatorStatus(), (a, f) => this.act(a, f));
    await this.drill.start();
  }

  /** Ids of a role's nodes: those with data already (restart), topped up to `count`. */
  private existingIds(role: 'meta' | 'blockd' | 'gateway', count: number): string[] {
    const prefix = { meta: 'm', blockd: 'b', gateway: 'g' }[role];
    const ids: string[] = [];
    for (let i = 1; ids.length < count && i < 1000; i++) {
      const id = `${prefix}${i}`;
      if (role === 'meta' && existsSync(this.dir.path('data', `${id}.retired`))) continue;
      ids.push(id);
    }
    return ids;
  }

  private index(id: string): number {
    return Number(id.replace(/^\D+/, ''));
  }

  private async startRole(role: 'meta' | 'blockd' | 'gateway', id: string): Promise<void> {
    const c = this.config;
    const i = this.index(id);
    // The master lease's TTL bounds failover; block daemons and gateways
    // keep their longer default (a keep-alive every TTL/3 each is most of
    // what an idle etcd does, and a dead one's writes and calls already go
    // elsewhere: the next daemon in order, HAProxy's checks).
    const common = ['--id', id, '--etcd', this.etcdUrl, ...this.dir.securityArgs(c)];
    if (role === 'meta') {
      const address = `${c.host}:${nodePort(c, 'meta', i)}`;
      await this.spawnNode(id, role, BIN, ['meta', ...common, '--lease-ttl', String(c.leaseTtl), '--listen', address, '--http-listen', `${c.host}:${nodePort(c, 'meta-http', i)}`, '--data-dir', this.dir.path('data', id)], address);
    } else if (role === 'blockd') {
      const address = `${c.host}:${nodePort(c, 'blockd', i)}`;
      await this.spawnNode(id, role, BIN, ['blockd', ...common, '--listen', address, '--http-listen', `${c.host}:${nodePort(c, 'blockd-http', i)}`, '--data-dir', this.dir.path('data', id), '--capacity', c.blockdCapacity, '--refresh-ms', '500'], address);
    } else {
      const address = `${c.host}:${nodePort(c, 'gateway', i)}`;
      const http = `${c.host}:${nodePort(c, 'gateway-http', i)}`;
      await this.spawnNode(id, role, BIN, [
        'gateway', ...common, '--listen', address, '--http-listen', http,
        '--replicas', String(c.replicas), '--write-quorum', String(c.writeQuorum), '--drain-notice-ms', '1500',
        // `blockstore qas` writes its reports here by default; the console shows them.
        '--console-reports', this.dir.path('qas'),
      ], address, undefined, http);
    }
  }

  /** HAProxy, or Envoy when ENVOY_BIN is set or `envoy` is on PATH. */
  private async startBalancer(): Promise<void> {
    const envoy = findEnvoy();
    if (!envoy) return this.startHaproxy();
    const c = this.config;
    const edsDir = this.dir.path('envoy');
    mkdirSync(edsDir, { recursive: true });
    writeEds(edsDir, await this.gateways());
    const cfg = this.dir.path('envoy.yaml');
    const tls = c.tls ? ensureLocalTls(this.dir.dir, [c.host]) : undefined;
    writeFileSync(cfg, localEnvoyConfig({ host: c.host, port: c.balancerPort, consolePort: consolePort(c), adminPort: c.basePort + 99, edsDir, tls: tls && { ca: tls.ca, cert: tls.cert, key: tls.key } }));
    this.envoy = true;
    await this.spawnNode('haproxy', 'haproxy', envoy, ['-c', cfg, '--log-level', 'warn'], `${c.host}:${c.balancerPort}`, 'probe-admin');
  }

  private async startHaproxy(): Promise<void> {
    const c = this.config;
    const cfg = this.dir.path('haproxy.cfg');
    const tls = c.tls ? ensureLocalTls(this.dir.dir, [c.host]) : undefined;
    writeFileSync(cfg, haproxyConfig({ bind: `${c.host}:${c.balancerPort}`, consoleBind: `${c.host}:${consolePort(c)}`, socket: this.socket, pidFile: this.dir.path('haproxy.pid'), errorFiles: writeGrpcErrorFiles(this.dir.dir), tls: tls && { bundle: tls.bundle, ca: tls.ca }, slots: c.balancerSlots }));
    rmSync(this.socket, { force: true });
    const bin = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';
    await this.spawnNode('haproxy', 'haproxy', bin, ['-W', '-db', '-f', cfg], `${c.host}:${c.balancerPort}`, undefined);
    for (let t = 0; t < 100 && !existsSync(this.socket); t++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(this.socket)) throw new Error(`haproxy did not start; see ${this.dir.path('logs', 'haproxy.log')}`);
  }

  /** Spawns a process, logs it to logs/<id>.log, waits until it listens. */
  private async spawnNode(
    id: string, role: NodeState['role'], cmd: string, args: string[], address: string,
    ready?: 'probe' | 'probe-admin', httpAddress?: string,
  ): Promise<void> {
    const log = createWriteStream(this.dir.path('logs', `${id}.log`), { flags: 'a' });
    // Nodes with a budget start inside their host (the shell execs the node: same PID).
    const cores = this.hosts ? hostCores(this.config, role) : 0;
    const run = this.hosts && cores > 0 ? this.hosts.wrap(id, cores, cmd, args) : { cmd, args };
    const proc = spawn(run.cmd, run.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    const prev = this.children.get(id);
    const state: NodeState = {
      id, role, pid: proc.pid ?? 0, address, httpAddress, dataDir: role === 'gateway' || role === 'haproxy' ? undefined : this.dir.path('data', id),
      ...(cores > 0 ? { hostCpu: cores } : {}),
      restarts: prev ? prev.state.restarts + 1 : 0, startedAt: new Date().toISOString(),
    };
    let resolveListening!: () => void;
    let buffer = '';
    const listening = new Promise<void>((r) => (resolveListening = r));
    const isReady = (line: string) => line.startsWith('{"event":"listening"');
    const onData = (d: Buffer) => {
      log.write(d);
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      if (lines.some(isReady)) resolveListening();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    const child: Child = {
      state, proc, log, listening, stopping: false,
      exited: new Promise<void>((r) => proc.on('exit', () => r())),
    };
    this.children.set(id, child);
    proc.on('exit', (code, signal) => void this.onExit(child, code, signal));
    if (role === 'haproxy') {
      // haproxy -W -db prints nothing on success: the caller waits for its socket.
      resolveListening();
    }
    if (ready) {
      // etcd: ready when its /health answers; Envoy: when its admin /ready does.
      const url = ready === 'probe' ? `${address}/health` : `http://${this.config.host}:${this.config.basePort + 99}/ready`;
      void (async () => {
        for (let i = 0; i < 300 && proc.exitCode === null; i++) {
          const ok = await fetch(url).then((r) => r.ok, () => false);
          if (ok) return resolveListening();
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
    }
    await Promise.race([
      listening,
      child.exited.then(() => {
        throw new Error(`${id} exited while starting; see ${this.dir.path('logs', `${id}.log`)}`);
      }),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`${id} did not start within 30 s`)), 30_000)),
    ]);
    this.act('started', { id, role, pid: state.pid, address, ...(cores > 0 ? { hostCpu: cores } : {}) });
  }

  private async onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    child.log.end();
    if (child.stopping || this.stopping || this.children.get(child.state.id) !== child) return;
    const { id, role } = child.state;
    this.act('process exited', { id, role, pid: child.state.pid, code, signal });
    if (role === 'meta') {
      // The master's lease goes at once, so failover does not wait for the TTL.
      const revoked = await this.coordinator?.revokeLeaderLease(id).catch(() => false);
      if (revoked) this.act('revoked the dead master lease', { id });
      // A replacement with a fresh data directory bootstraps and joins.
      this.children.delete(id);
      this.hosts?.remove(id);
      const dead = this.dir.path('data', id);
      if (existsSync(dead)) renameSync(dead, this.dir.path('data', `${id}.retired`));
      const replacement = this.nextId('meta');
      this.act('provisioning a replacement metadata node', { replaces: id, id: replacement });
      await this.startRole('meta', replacement).catch((err: unknown) => this.act('replacement failed', { id: replacement, err: String(err) }));
      return;
    }
    // Back off on crash loops: 0.3 s, doubling per restart, at most 10 s.
    await new Promise((r) => setTimeout(r, Math.min(10_000, 300 * 2 ** Math.min(child.state.restarts, 6))));
    if (this.stopping) return;
    if (role === 'etcd') await this.spawnNode('etcd', 'etcd', child.proc.spawnfile, child.proc.spawnargs.slice(1), child.state.address, 'probe').catch(() => {});
    else if (role === 'haproxy') await this.startBalancer().catch(() => {});
    else await this.startRole(role, id).catch((err: unknown) => this.act('restart failed', { id, err: String(err) }));
  }

  private nextId(role: 'meta' | 'blockd' | 'gateway'): string {
    const prefix = { meta: 'm', blockd: 'b', gateway: 'g' }[role];
    for (let i = 1; ; i++) {
      const id = `${prefix}${i}`;
      if (!this.children.has(id) && !existsSync(this.dir.path('data', `${id}.retired`))) return id;
    }
  }

  private ofRole(role: NodeState['role']): Child[] {
    return [...this.children.values()].filter((c) => c.state.role === role && !c.stopping);
  }

  /** Desired counts (cluster.json) and HAProxy membership. */
  private async reconcile(): Promise<void> {
    if (this.syncing || this.stopping) return;
    this.syncing = true;
    try {
      try {
        this.config = this.dir.readConfig();
      } catch {
        /* keep the last good one */
      }
      for (const role of ['blockd', 'gateway'] as const) {
        const have = this.ofRole(role).sort((a, b) => this.index(a.state.id) - this.index(b.state.id));
        const want = this.config.counts[role];
        if (have.length < want) {
          const id = this.nextId(role);
          this.act('scaling up', { role, id, to: want });
          await this.startRole(role, id).catch((err: unknown) => this.act('start failed', { id, err: String(err) }));
        } else if (have.length > want) {
          const victim = have[have.length - 1]!;
          this.act('scaling down', { role, id: victim.state.id, to: want });
          await this.stopChild(victim);
        }
      }
      await this.syncBalancer();
      await this.publishOperatorStatus();
      this.saveState();
    } catch (err) {
      this.logger.warn('reconcile failed', { err: err as Error });
    } finally {
      this.syncing = false;
    }
  }

  /** The recent actions and the balancer's view, in etcd for the console (written when they change). */
  private async publishOperatorStatus(): Promise<void> {
    if (!this.membership) return;
    const balancer: OperatorStatus['balancer'] = [];
    if (!this.envoy && existsSync(this.socket)) {
      // Slot states change with HAProxy's health checks: read again when the last read is older than STATUS_MS.
      const servers = this.servers && Date.now() - this.servers.at < STATUS_MS ? this.servers.list : await this.readServers();
      for (const s of servers) {
        if (!s.address) continue;
        const child = [...this.children.values()].find((c) => c.state.role === 'gateway' && c.state.address === s.address);
        balancer.push({ id: child?.state.id ?? this.slotIds.get(s.name) ?? '', address: s.address, slot: s.name, state: slotState(s) });
      }
    }
    const body = { source: this.envoy ? 'local supervisor (Envoy)' : 'local supervisor (HAProxy)', actions: this.actions.slice(-20), balancer, drill: this.drill?.status };
    const key = JSON.stringify(body);
    if (key === this.lastPublished) return;
    this.etcd ??= connectEtcd([this.etcdUrl]);
    // Best effort and bounded: a paused etcd must not hold up the balancer's next sync.
    const put = this.etcd.put(operatorKey('/blockstore/')).value(JSON.stringify({ updatedAt: new Date().toISOString(), ...body } satisfies OperatorStatus)).then(() => true, () => false);
    if (await Promise.race([put, new Promise<boolean>((r) => setTimeout(() => r(false), 1000).unref())])) this.lastPublished = key;
  }

  /** HAProxy follows gateway registrations in etcd. */
  private async syncBalancer(): Promise<void> {
    if (this.envoy && this.membership) {
      const gateways = await this.gateways();
      const key = JSON.stringify(gateways.map((g) => [g.id, g.address, g.info.state]));
      if (key !== this.lastEds) {
        writeEds(this.dir.path('envoy'), gateways);
        this.lastEds = key;
        this.act('balancer: envoy endpoints written', { gateways: gateways.filter((g) => g.info.state === 'serving').map((g) => g.id) });
      }
      return;
    }
    if (!this.membership || !existsSync(this.socket)) return;
    // Nothing to bring in line unless the registrations changed (or, with no
    // watch standing, may have) or a slot is on its way out; a full look
    // every BALANCER_BACKSTOP_MS regardless.
    const due = !this.gatewayMirror?.watching || this.gatewaysChanged || this.drainingSince.size > 0 || this.unlisted.size > 0 || Date.now() - this.lastBalancerSync > BALANCER_BACKSTOP_MS;
    if (!due) return;
    this.gatewaysChanged = false;
    this.lastBalancerSync = Date.now();
    const gateways = await this.gateways();
    // Gateways are matched to HAProxy slots by address.
    let servers = await this.readServers();
    for (const g of gateways) {
      const http = String(g.info.httpAddress ?? '');
      if (g.info.state !== 'serving' || !http) continue;
      const slot = slotOf(servers, g.address);
      if (slot && !inService(slot)) {
        // It was drained (a restart at the same address): back in service.
        await readyGateway(this.socket, slot.name);
        this.drainingSince.delete(slot.name);
        this.act('balancer: gateway back in service', { id: g.id, slot: slot.name });
      } else if (!slot) {
        const name = await addGateway(this.socket, g.address, http);
        this.slotIds.set(name, g.id);
        servers = await this.readServers();
        this.act('balancer: gateway added', { id: g.id, address: g.address, slot: name });
      }
    }
    for (const s of servers) {
      if (!s.address) continue;
      const live = gateways.find((g) => g.address === s.address && g.info.state === 'serving');
      if (live) {
        this.drainingSince.delete(s.name);
        this.unlisted.delete(s.name);
        continue;
      }
      const child = [...this.children.values()].find((c) => c.state.role === 'gateway' && c.state.address === s.address);
      const id = child?.state.id ?? this.slotIds.get(s.name) ?? s.address;
      const gone = !child || child.proc.exitCode !== null || child.proc.signalCode !== null || child.stopping;
      const listed = gateways.some((g) => g.address === s.address);
      // Missing from etcd while its process runs and the balancer's own
      // check passes: the registry blinked (etcd paused, every lease expired
      // at once), the gateway did not. It keeps serving. A gateway that
      // drains says so itself (its /healthz answers 404; it stays listed as
      // draining), and a dead one fails its check or has exited.
      if (!listed && !gone && s.opState === SERVER_UP && inService(s) && !this.drainingSince.has(s.name)) {
        if (!this.unlisted.has(s.name)) {
          this.unlisted.add(s.name);
          this.act('balancer: gateway missing from etcd but its health check passes; kept in service', { id, slot: s.name });
        }
        continue;
      }
      this.unlisted.delete(s.name);
      const since = this.drainingSince.get(s.name);
      if (since === undefined) {
        this.drainingSince.set(s.name, Date.now());
        await drainGateway(this.socket, s.name);
        this.act('balancer: gateway draining', { id, slot: s.name });
      } else {
        if ((gone && Date.now() - since > 1000) || Date.now() - since > 30_000) {
          await removeGateway(this.socket, s.name).catch(() => {});
          this.drainingSince.delete(s.name);
          this.slotIds.delete(s.name);
          this.act('balancer: gateway removed', { id, slot: s.name });
        }
      }
    }
  }

  private async stopChild(child: Child, graceMs = 20_000): Promise<void> {
    child.stopping = true;
    const pid = child.state.pid;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await child.exited;
    clearTimeout(t);
    this.children.delete(child.state.id);
    this.hosts?.remove(child.state.id);
    this.act('stopped', { id: child.state.id, pid });
  }

  /** Stops everything by PID, in dependency order. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    clearInterval(this.relistTimer);
    this.gatewayMirror?.close();
    this.drill?.close();
    for (const role of ['gateway', 'haproxy', 'blockd', 'meta', 'etcd'] as const) {
      await Promise.all(this.ofRole(role).map((c) => this.stopChild(c)));
      if (role === 'haproxy') rmSync(this.socket, { force: true });
    }
    this.membership?.close();
    this.coordinator?.close();
    this.etcd?.close();
    this.hosts?.removeAll();
    this.ready = false;
    this.actions.push({ time: new Date().toISOString(), action: 'cluster down' });
    this.saveState();
    rmSync(this.dir.path('supervisor.pid'), { force: true });
  }
}
