/**
 * QAS-001 for a client that never retries: Debian's python3-grpcio with
 * default settings, StatFile at a fixed rate through the local HAProxy,
 * while a gateway is SIGKILLed, SIGSTOPped, SIGTERMed (a rolling restart)
 * and while etcd itself is paused. The balancer replays what it safely can;
 * what reaches the client is UNAVAILABLE, never UNKNOWN or INTERNAL — except
 * the known gap (knownGap below) when a gateway dies or freezes; a registry
 * that blinks never empties the balancer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { StateDir } from '../../cluster/local/layout';
import { backendServers, inService, SERVER_UP, slotOf } from '../../cluster/local/haproxy';
import { BlockstoreClient } from '../../sdk/client';
import { localClusterDown, localClusterUp, loggedErrors } from '../harness/local-cluster';
import { SYSTEM_PYTHON } from '../harness/strict-client';
import { installSdkPackage } from '../harness/sdk-package';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('a client that never retries');
const ROOT = join(__dirname, '..', '..');
const RATE = 300;
let dir: StateDir;
let address = '';
let stubs = '';

interface LoadResult {
  started: number;
  ok: number;
  failed: number;
  codes: Record<string, number>;
  samples: Record<string, string>;
  failed_at: number[];
  seconds: number;
}

const token = (name: string) => readFileSync(dir.path(`${name}.token`), 'utf8').trim();

/** StatFile at RATE calls/s for `seconds`, from Python; `during` runs the fault alongside. */
async function load(seconds: number, during: () => Promise<void>): Promise<LoadResult> {
  const run = promisify(execFile)(SYSTEM_PYTHON, [join(__dirname, 'plain_stat_load.py'), address, token('user'), stubs, 'plain/seed', String(RATE), String(seconds)], { timeout: (seconds + 60) * 1000 });
  const [{ stdout }] = await Promise.all([run, during()]);
  return JSON.parse(stdout) as LoadResult;
}

function report(label: string, r: LoadResult): number {
  const ratio = r.ok / r.started;
  console.log(`  ${label}: ${r.started} calls in ${r.seconds.toFixed(1)} s, ${r.ok} ok, ${r.failed} failed (${(ratio * 100).toFixed(2)} %)${r.failed ? ` ${JSON.stringify(r.codes)} ${JSON.stringify(r.samples)} at ${r.failed_at.slice(0, 10).join(', ')} s` : ''}`);
  return ratio;
}

/** Failures that reach the client must be UNAVAILABLE (or a deadline): never UNKNOWN, INTERNAL or CANCELLED. */
function onlyRetryable(r: LoadResult): void {
  for (const code of Object.keys(r.codes)) {
    if (code !== 'UNAVAILABLE' && code !== 'DEADLINE_EXCEEDED') assert.unreachable(`a failure reached the client as ${code}: ${r.samples[code]}\n${loggedErrors(dir) || '(no error logged by any node)'}`);
  }
}

/**
 * The known gap, bounded. A call the gateway had already taken when it
 * died or froze is now and then reset by HAProxy 2.6 instead of replayed
 * (grpcio: UNKNOWN "Stream removed"): 0–2 per fault in most runs, 1 in one
 * CI SIGKILL, 6 of 3,000 in one CI SIGSTOP (all started within 0.1 s of
 * the freeze); none in 40 SIGKILLs outside CI. So: at most 10 such calls,
 * every other failure UNAVAILABLE and within the 99.9 % bar, and no call
 * started more than a second after the fault (once the balancer's checks
 * have marked the gateway down) may fail at all. (The load's clock starts
 * a little after the test's: Python's start-up.)
 */
function knownGap(r: LoadResult, faultAt: number): void {
  const { UNKNOWN: unknown = 0, ...rest } = r.codes;
  onlyRetryable({ ...r, codes: rest });
  if (unknown) assert.match(r.samples.UNKNOWN ?? '', 'Stream removed');
  assert.ok(unknown <= 10, `${unknown} calls reset`);
  assert.ok((r.ok + unknown) / r.started >= 0.999, `apart from the resets, ${(((r.ok + unknown) / r.started) * 100).toFixed(2)} % succeeded (bar 99.9 %)`);
  for (const t of r.failed_at) assert.ok(t < faultAt + 1, `a call started ${t} s in (after the fault at ${faultAt} s and its detection) failed`);
}

const gateways = () => dir.readState()!.nodes.filter((n) => n.role === 'gateway');
const started = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000)); // when in the load the fault strikes

async function allInService(): Promise<void> {
  await waitFor('every gateway up in HAProxy', async () => {
    const servers = await backendServers(dir.path('haproxy.sock'));
    return gateways().every((g) => {
      const s = slotOf(servers, g.address);
      return s !== undefined && s.opState === SERVER_UP && inService(s);
    });
  }, 30_000);
}

test.before(async () => {
  ({ dir, address } = await localClusterUp('plain'));
  stubs = makeTempDir('plain-stubs');
  execFileSync('protoc', [`-I${join(ROOT, 'proto')}`, `--python_out=${stubs}`, join(ROOT, 'proto', 'blockstore', 'v1', 'files.proto')]);
  const client = new BlockstoreClient({ address, token: token('user') });
  await client.put('plain/seed', Buffer.from('a file to stat'));
  client.close();
});

test.after(async () => {
  await localClusterDown(dir);
  if (stubs) removeDir(stubs);
});

test('a gateway SIGKILLed: apart from the known reset gap, ≥ 99.9 % of calls succeed and failures are UNAVAILABLE', async () => {
  await allInService();
  const victim = gateways()[0]!;
  const killAt = 2;
  const r = await load(8, async () => {
    await started(killAt);
    process.kill(victim.pid, 'SIGKILL');
  });
  report('SIGKILL', r);
  knownGap(r, killAt);
});

test('a gateway SIGSTOPped for 3 s: apart from the known reset gap, ≥ 99.9 % of calls succeed and failures are UNAVAILABLE', async () => {
  await allInService();
  const victim = gateways()[1]!;
  const freezeAt = 2;
  const r = await load(10, async () => {
    await started(freezeAt);
    process.kill(victim.pid, 'SIGSTOP');
    await started(3);
    process.kill(victim.pid, 'SIGCONT');
  });
  report('SIGSTOP', r);
  knownGap(r, freezeAt);
});

test('a rolling restart (SIGTERM, one gateway at a time): no call fails', async () => {
  await allInService();
  const r = await load(20, async () => {
    await started(2);
    for (const g of gateways()) {
      process.kill(g.pid, 'SIGTERM');
      await waitFor(`${g.id} back with a new pid`, () => gateways().some((n) => n.id === g.id && n.pid !== g.pid), 30_000);
      await allInService();
    }
  });
  report('rolling restart', r);
  assert.is(r.failed, 0, `failed: ${JSON.stringify(r.samples)}`);
});

test('etcd paused for 8 s (every registration lease, 5 s at most, lapses): the balancer keeps its gateways and reads keep flowing', async () => {
  await allInService();
  const etcd = dir.readState()!.nodes.find((n) => n.role === 'etcd')!;
  const r = await load(18, async () => {
    await started(2);
    process.kill(etcd.pid, 'SIGSTOP');
    await started(8);
    process.kill(etcd.pid, 'SIGCONT');
  });
  assert.ok(report('etcd paused', r) >= 0.999, 'success ratio');
  onlyRetryable(r);
  await allInService();
});

/** The examples in other languages print a line per step and "ok" last: the typed error's ErrorInfo and the live change event among them. */
function exampleRan(r: { stdout: string; stderr: string }): void {
  const lines = r.stdout.trim().split('\n');
  assert.is(lines[lines.length - 1], 'ok', r.stdout + r.stderr);
  assert.match(r.stdout, 'reason NOT_FOUND (domain blockstore)');
  assert.match(r.stdout, /watch: put \S+second\.txt/);
}

test('the Python example (examples/python): upload, download, a typed error with its google.rpc.ErrorInfo, the change feed', async () => {
  const out = makeTempDir('python-example');
  try {
    const proto = join(ROOT, 'proto');
    execFileSync('protoc', [`-I${proto}`, `--python_out=${out}`, join(proto, 'blockstore', 'v1', 'files.proto'), join(proto, 'google', 'rpc', 'status.proto'), join(proto, 'google', 'rpc', 'error_details.proto')]);
    const r = await promisify(execFile)(SYSTEM_PYTHON, [join(ROOT, 'examples', 'python', 'blockstore_example.py'), address, token('user'), out, `py-${Date.now()}/`], { timeout: 120_000 });
    exampleRan(r);
  } finally {
    removeDir(out);
  }
});

test('the Go example (examples/go): code generated from the protos (go_package "blockstore/v1") and grpc-go, built offline; upload, download, ErrorInfo, the change feed', async () => {
  const out = makeTempDir('go-example');
  try {
    execFileSync(join(ROOT, 'scripts', 'gen-go.sh'), [out]);
    const env = { ...process.env, GO111MODULE: 'off', GOPATH: `${out}:/usr/share/gocode`, GOCACHE: join(out, 'cache'), GOFLAGS: '' };
    await promisify(execFile)('go', ['build', '-o', join(out, 'example'), './examples/go'], { cwd: ROOT, env, timeout: 300_000 });
    const r = await promisify(execFile)(join(out, 'example'), [address, token('user'), `go-${Date.now()}/`], { timeout: 120_000 });
    exampleRan(r);
  } finally {
    removeDir(out);
  }
});

test('the SDK as a package, installed in a project of its own: the Node example runs against the cluster', async () => {
  const project = makeTempDir('sdk-project');
  try {
    installSdkPackage(project);
    copyFileSync(join(ROOT, 'examples', 'node', 'example.js'), join(project, 'example.js'));
    const r = await promisify(execFile)('node', ['example.js', `sdk-${Date.now()}/`], {
      cwd: project, timeout: 120_000, env: { ...process.env, BLOCKSTORE_ADDRESS: address, BLOCKSTORE_TOKEN_FILE: dir.path('user.token'), BLOCKSTORE_CREDENTIALS: join(project, 'none.json') },
    });
    const lines = r.stdout.trim().split('\n');
    assert.is(lines[lines.length - 1], 'ok', r.stdout + r.stderr);
    assert.match(r.stdout, 'NOT_FOUND (retryable: false)');
    assert.match(r.stdout, 'as a stream 1500000');
  } finally {
    removeDir(project);
  }
});

test('the SDK: an AbortSignal cancels a call at once — before it starts, mid-upload (nothing committed), mid-download', async () => {
  const client = new BlockstoreClient({ address, token: token('user') });
  const code = (p: Promise<unknown>) => p.then(() => 'OK', (e: { code?: string }) => e.code ?? String(e));
  try {
    const before = new AbortController();
    before.abort();
    assert.is(await code(client.stat('plain/seed', 0, { signal: before.signal })), 'CANCELLED');
    // An upload cut off mid-stream: cancelled, and no version of it exists.
    const mid = new AbortController();
    const source = Readable.from((async function* () {
      for (let i = 0; i < 40; i++) {
        yield randomBytes(256 * 1024);
        if (i === 4) mid.abort();
      }
    })());
    const started = Date.now();
    assert.is(await code(client.put('plain/aborted-upload', source, { signal: mid.signal })), 'CANCELLED');
    assert.ok(Date.now() - started < 10_000, 'cancelled promptly');
    assert.is(await code(client.stat('plain/aborted-upload')), 'NOT_FOUND', 'nothing half-written');
    // A download aborted after its first piece.
    await client.put('plain/big', randomBytes(6 * 1024 * 1024));
    const down = new AbortController();
    const { data } = await client.download('plain/big', { signal: down.signal });
    const reading = (async () => {
      for await (const _ of data) down.abort();
    })();
    assert.is(await code(reading), 'CANCELLED');
  } finally {
    client.close();
  }
});

test.run();
