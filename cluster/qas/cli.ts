/**
 * `blockstore qas`: runs the seed's quality scenarios against the local
 * cluster (starting one if none is up), or against any cluster given by
 * `--address` and its tokens, and writes the report.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { helpText, parseFlags, UsageError, type FlagSpec } from '../../lib/cli/flags';
import { StateDir } from '../local/layout';
import { freeRange } from '../local/ports';
import { qas003Hosts } from './scaling';
import { preload } from './preload';
import { writeReport } from './report';
import { localTarget, qas001, qas002, qas003, remoteTarget, type ScenarioResult, type Target } from './scenarios';
import { installClusterCredentials, loadClusterCredentials } from '../../lib/security/cluster-credentials';
import { BLOCKSTORE_BIN, ROOT } from '../../lib/root';

export const FLAGS: FlagSpec[] = [
  { name: 'scenario', type: 'string', value: '1|2|3|all', default: 'all', help: 'which scenario' },
  { name: 'duration', type: 'string', value: 'SECONDS', default: '60', help: 'QAS-001 and QAS-002 duration' },
  { name: 'rate', type: 'string', value: 'CALLS/S', default: '150', help: 'QAS-001 and QAS-002 offered rate' },
  { name: 'from-rate', type: 'string', value: 'CALLS/S', default: '100', help: 'QAS-003 ramp start' },
  { name: 'max-rate', type: 'string', value: 'CALLS/S', default: '1000', help: 'QAS-003 ramp end' },
  { name: 'step-seconds', type: 'string', value: 'SECONDS', default: '15', help: 'QAS-003 seconds per step' },
  { name: 'p99-bound', type: 'string', value: 'MS', default: '2000', help: 'QAS-003 latency bound for "sustained"' },
  { name: 'host-cpu', env: 'BLOCKSTORE_QAS_HOST_CPU', type: 'string', value: 'CORES', default: '0', help: 'QAS-003 on hosts with this CPU budget each (a cluster of its own, started and stopped by the run): the scaling curve, a surge absorbed by scale-out, the fleet for the target rate; 0: the ramp on the cluster as it is' },
  { name: 'meta-host-cpu', type: 'string', value: 'CORES', default: '0.3', help: 'with --host-cpu: the metadata nodes\' budget' },
  { name: 'units', type: 'string', value: 'N,N,…', default: '1,2,4,6', help: 'with --host-cpu: fleet sizes (gateway + block daemon units) for the curve' },
  { name: 'surge-seconds', type: 'string', value: 'SECONDS', default: '60', help: 'with --host-cpu: how long the surge lasts (0: none)' },
  { name: 'average-bytes', type: 'string', value: 'BYTES', default: '500000', help: 'with --host-cpu: the mix\'s average file size' },
  { name: 'preload-mb', type: 'string', value: 'MB', default: '0', help: 'first fill the cluster to this many MB of stored files (unique 1 MiB files), so the scenarios run on a cluster that holds data' },
  { name: 'out', type: 'string', value: 'DIR', help: 'report directory (default: the local cluster state directory\'s qas/, which its web console shows)' },
  { name: 'json', type: 'string', value: 'FILE', help: 'also write the JSON report here' },
  { name: 'state', env: 'BLOCKSTORE_STATE_DIR', type: 'string', value: 'DIR', default: join(ROOT, '.cluster'), help: 'the local cluster' },
  { name: 'address', env: 'BLOCKSTORE_ADDRESS', type: 'string', value: 'HOST:PORT', help: 'a remote cluster\'s balancer (instead of the local cluster)' },
  { name: 'token-file', env: 'BLOCKSTORE_TOKEN_FILE', type: 'string', value: 'FILE', help: 'remote: a user token (the load runs as this user)' },
  { name: 'admin-token-file', env: 'BLOCKSTORE_ADMIN_TOKEN_FILE', type: 'string', value: 'FILE', help: 'remote: an admin token (cluster status)' },
  { name: 'ca-file', env: 'BLOCKSTORE_CA_FILE', type: 'string', value: 'PEM', help: 'remote: the balancer\'s CA (TLS)' },
  { name: 'cluster-secret-file', env: 'BLOCKSTORE_CLUSTER_SECRET_FILE', type: 'string', value: 'FILE', help: 'remote: the cluster secret, for fault hooks and the master-lease fault (mTLS: BLOCKSTORE_TLS_CA/CERT/KEY)' },
];

/**
 * Runs `fn` on a cluster of its own whose every node has a CPU budget
 * (started on free ports in a directory under `out`, stopped and removed
 * after, whatever happens).
 */
async function onHosts(hostCpu: number, metaCpu: number, out: string, fn: (t: Target & { dir: StateDir }) => Promise<ScenarioResult>): Promise<ScenarioResult> {
  const dir = new StateDir(mkdtempSync(join(out, 'hosts-cluster-')));
  const base = await freeRange();
  const bin = BLOCKSTORE_BIN;
  process.stderr.write(`QAS-003: a cluster on hosts of ${hostCpu} core (metadata ${metaCpu}) in ${dir.dir}\n`);
  try {
    await promisify(execFile)(bin, ['cluster', 'up', '--state', dir.dir, '--base-port', String(base), '--balancer-port', String(base + 1), '--etcd-port', String(base + 2),
      '--host-cpu', String(hostCpu), '--meta-host-cpu', String(metaCpu), '--gateways', '1'], { timeout: 300_000 });
    const t = localTarget(dir);
    return await fn({ ...t, dir });
  } finally {
    await promisify(execFile)(bin, ['cluster', 'down', '--state', dir.dir], { timeout: 120_000 }).catch(() => undefined);
    rmSync(dir.dir, { recursive: true, force: true });
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, help } = parseFlags(argv, FLAGS);
  if (help) {
    process.stdout.write(helpText('blockstore qas [--scenario N] [--duration S] [--rate R] [--json FILE] [--address HOST:PORT --token-file F --admin-token-file F --cluster-secret-file F]', 'Runs the quality scenarios (QAS-001 gateway failure, QAS-002 metadata master failure, QAS-003 surge) against the local cluster with real faults (signals, scale-out), or against a remote cluster with the faults its network offers (fault hooks, master-lease revocation), and writes a report.', FLAGS));
    return 0;
  }
  const num = (k: string) => {
    const n = Number(values[k]);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${k}: a positive number`);
    return n;
  };
  const which = String(values.scenario);
  if (!['1', '2', '3', 'all'].includes(which)) throw new UsageError('--scenario: 1, 2, 3 or all');
  let target: Target;
  let where: string;
  if (values.address) {
    const read = (flag: string) => {
      const f = values[flag];
      if (typeof f !== 'string') throw new UsageError(`--address needs --${flag}`);
      return readFileSync(f, 'utf8').trim();
    };
    installClusterCredentials(loadClusterCredentials({ secretFile: values['cluster-secret-file'] as string | undefined }));
    const ca = typeof values['ca-file'] === 'string' ? readFileSync(values['ca-file']) : undefined;
    target = remoteTarget({ address: String(values.address), userToken: read('token-file'), adminToken: read('admin-token-file'), ca });
    where = `the cluster at ${target.address} (remote: faults through the network only, see the events)`;
  } else if (which === '3' && Number(values['host-cpu']) > 0) {
    // QAS-003 on hosts runs on a cluster of its own (below).
    target = { address: '', userToken: '', adminToken: '' };
    where = 'a local cluster of its own with host budgets';
  } else {
    const dir = new StateDir(String(values.state));
    if (!dir.supervisorPid()) {
      process.stderr.write('no local cluster is up: starting one\n');
      await promisify(execFile)(BLOCKSTORE_BIN, ['cluster', 'up', '--state', dir.dir], { timeout: 300_000 });
    }
    target = localTarget(dir);
    where = `the local cluster at ${target.address} (${dir.dir})`;
  }
  const out = values.out ? String(values.out) : join(String(values.state), 'qas');
  mkdirSync(out, { recursive: true });
  const results: ScenarioResult[] = [];
  const say = (r: ScenarioResult) => process.stderr.write(`${r.id}: ${r.verdict}\n`);
  const preloadMb = Number(values['preload-mb']);
  let held = '';
  if (preloadMb > 0 && target.address) {
    const replicas = target.dir?.readConfig().replicas ?? 3;
    const p = await preload(target, preloadMb, replicas, (line) => process.stderr.write(`${line}\n`));
    held = ` The cluster held ${p.after.toFixed(0)} MB of files when the scenarios began (${p.uploaded} MB preloaded).`;
  }
  if (which === '1' || which === 'all') say(results[results.push(await qas001(target, { durationS: num('duration'), rate: num('rate'), say: (line) => process.stderr.write(`${line}\n`) })) - 1]!);
  if (which === '2' || which === 'all') say(results[results.push(await qas002(target, { durationS: num('duration'), rate: num('rate') })) - 1]!);
  const hostCpu = Number(values['host-cpu']);
  if (!Number.isFinite(hostCpu) || hostCpu < 0) throw new UsageError('--host-cpu: cores per host (0: none)');
  if ((which === '3' || which === 'all') && hostCpu > 0) {
    const units = String(values.units).split(',').map(Number);
    if (!units.length || units.some((u) => !Number.isInteger(u) || u < 1)) throw new UsageError('--units: fleet sizes, e.g. 1,2,4,6');
    say(results[results.push(await onHosts(hostCpu, num('meta-host-cpu'), out, (t) => qas003Hosts(t, {
      sizes: units, fromRate: num('from-rate'), growth: 1.25, stepS: num('step-seconds'), maxSteps: 12, p99BoundMs: num('p99-bound'),
      averageBytes: num('average-bytes'), surgeS: Number(values['surge-seconds']) || 0, targetRate: 480,
    }))) - 1]!);
  } else if (which === '3' || which === 'all') {
    say(results[results.push(await qas003(target, { fromRate: num('from-rate'), toRate: num('max-rate'), stepS: num('step-seconds'), p99BoundMs: num('p99-bound') })) - 1]!);
  }
  const context = `Run ${new Date().toISOString()} against ${where}.${held}`;
  writeReport(out, results, context, values.json ? String(values.json) : undefined);
  process.stdout.write(`report: ${join(out, 'qas-report.md')}\n${results.map((r) => `${r.id} ${r.verdict}`).join('\n')}\n`);
  return results.every((r) => r.pass) ? 0 : 1;
}
