/**
 * The console's QAS-001 drill, run by the local operator. An admin presses
 * the button; the gateway writes `operator/requests/drill`; the supervisor,
 * watching that prefix, runs `blockstore qas --scenario 1` for a short while
 * against its own cluster (a gateway SIGKILLed, one paused, one failing,
 * under steady load through the balancer) and reports progress — its state
 * and the run's last lines — in the operator status, which the console
 * shows live. The report lands in the state directory's qas/, where the
 * console's Quality tab reads it. One drill at a time; a request that
 * arrives while one runs waits for it to end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { operatorRequestsPrefix, type DrillRequest, type DrillStatus } from '../../coordination/keys';
import { PrefixMirror } from '../../coordination/prefix-mirror';
import type { StateDir } from './layout';
import { BLOCKSTORE_BIN as BIN } from '../../lib/root';

/** Long enough for three faults and the recovery after each; short enough to watch. */
export const DRILL_SECONDS = 20;
export const DRILL_RATE = 30;
const OUTPUT_LINES = 30;

export class DrillRunner {
  status: DrillStatus | undefined;
  private child: ChildProcess | undefined;
  private readonly requests: PrefixMirror;
  private readonly key: string;
  private closed = false;

  constructor(
    private readonly dir: StateDir,
    etcdUrl: string,
    prefix: string,
    /** Called whenever `status` changes. */
    private readonly changed: () => void,
    private readonly act: (action: string, fields?: Record<string, unknown>) => void,
  ) {
    this.key = `${operatorRequestsPrefix(prefix)}drill`;
    this.requests = new PrefixMirror([etcdUrl], operatorRequestsPrefix(prefix), () => this.check());
  }

  /** Watches for requests (best effort: without etcd there are none to see). */
  async start(): Promise<void> {
    await this.requests.start().catch(() => undefined);
  }

  private check(): void {
    const raw = this.requests.entries.get(this.key);
    if (!raw || this.child || this.closed) return;
    let req: DrillRequest;
    try {
      req = JSON.parse(raw) as DrillRequest;
    } catch {
      return;
    }
    if (this.status?.id === req.id) return; // this one ran already
    this.run(req);
  }

  private run(req: DrillRequest): void {
    this.act('QAS-001 drill started', { requestedBy: req.requestedBy, seconds: DRILL_SECONDS, rate: DRILL_RATE });
    const status: DrillStatus = { id: req.id, requestedBy: req.requestedBy, state: 'running', startedAt: new Date().toISOString(), output: [] };
    this.status = status;
    const child = spawn(BIN, ['qas', '--scenario', '1', '--duration', String(DRILL_SECONDS), '--rate', String(DRILL_RATE), '--state', this.dir.dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const line = (l: string) => {
      status.output.push(l);
      if (status.output.length > OUTPUT_LINES) status.output.splice(0, status.output.length - OUTPUT_LINES);
      this.changed();
    };
    createInterface({ input: child.stdout! }).on('line', line);
    createInterface({ input: child.stderr! }).on('line', line);
    child.on('error', (err) => line(`cannot run the drill: ${err.message}`));
    child.on('close', (code, signal) => {
      this.child = undefined;
      status.state = code === 0 ? 'passed' : 'failed';
      status.finishedAt = new Date().toISOString();
      this.act(`QAS-001 drill ${status.state}`, signal ? { signal } : { exitCode: code });
      this.changed();
      this.check(); // a request made meanwhile
    });
    this.changed();
  }

  /** Stops a drill under way (by its PID) and the watch. */
  close(): void {
    this.closed = true;
    if (this.child?.pid) this.child.kill('SIGTERM');
    this.requests.close();
  }
}
