/**
 * A real etcd (Debian's etcd-server binary) on free loopback ports in a temp
 * dir, for integration and end-to-end tests. Stopped by PID; dir removed.
 */
import { connectEtcd } from '../../coordination/etcd';
import { freePort } from './ports';
import { startProcess, type Proc } from './process';
import { makeTempDir, removeDir } from './temp';
import { waitFor } from './wait';

export interface EtcdHandle {
  endpoint: string;
  clientPort: number;
  proc: Proc;
  dataDir: string;
  stop(): Promise<void>;
  /** Stops etcd but keeps its data (restart with restart()). */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';

export async function startEtcd(): Promise<EtcdHandle> {
  const dataDir = makeTempDir('etcd');
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const args = [
    '--name', 'n1',
    '--data-dir', dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `n1=http://127.0.0.1:${peerPort}`,
    '--log-level', 'error',
  ];
  const launch = async (): Promise<Proc> => {
    const p = startProcess(ETCD_BIN, args);
    const client = connectEtcd([endpoint]);
    try {
      await waitFor('etcd to answer', async () => {
        if (!p.alive()) throw new Error(`etcd exited: ${p.output().slice(-1000)}`);
        await client.get('health-probe').string();
        return true;
      }, 15_000, 100);
    } finally {
      client.close();
    }
    return p;
  };
  const handle: EtcdHandle = {
    endpoint,
    clientPort,
    dataDir,
    proc: await launch(),
    async kill() {
      handle.proc.signal('SIGKILL');
      await handle.proc.exited;
    },
    async restart() {
      handle.proc = await launch();
    },
    async stop() {
      await handle.proc.stop(5000);
      removeDir(dataDir);
    },
  };
  return handle;
}
