/**
 * Real processes for end-to-end tests: `blockstore <role>` started by PID,
 * its "listening" line awaited, stopped by PID with a real signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BLOCKSTORE_BIN } from '../../lib/root';
import { within } from './wait';

export { BLOCKSTORE_BIN };

export interface Proc {
  pid: number;
  child: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code or signal name when the process ends. */
  exited: Promise<number | string>;
  /** Sends a signal by PID; no-op if it already exited. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<number | string>;
  alive(): boolean;
}

export function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let done = false;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, sig) => {
      done = true;
      resolve(code ?? sig ?? -1);
    });
  });
  const pid = child.pid!;
  const signal = (sig: NodeJS.Signals) => {
    if (!done) {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  return {
    pid,
    child,
    output: () => out,
    exited,
    signal,
    alive: () => !done,
    stop: async (graceMs = 10_000) => {
      if (done) return exited;
      signal('SIGCONT');
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

export interface Listening {
  port: number;
  pid: number;
}

/** Waits for the `{"event":"listening",…}` line a server prints on start. */
export async function waitListening(p: Proc, timeoutMs = 20_000): Promise<Listening> {
  return within(
    timeoutMs,
    `process ${p.pid} to listen`,
    new Promise<Listening>((resolve, reject) => {
      const check = () => {
        for (const line of p.output().split('\n')) {
          if (line.startsWith('{"event":"listening"')) {
            cleanup();
            resolve(JSON.parse(line) as Listening);
            return;
          }
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`process ${p.pid} exited before listening:\n${p.output().slice(-2000)}`));
      };
      const cleanup = () => {
        p.child.stdout!.off('data', check);
        p.child.off('exit', onExit);
      };
      p.child.stdout!.on('data', check);
      p.child.once('exit', onExit);
      check();
    }),
  );
}

/** `blockstore <args…>` as a child process. */
export function startBlockstore(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return startProcess(BLOCKSTORE_BIN, args, env);
}
