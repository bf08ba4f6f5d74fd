/**
 * Following a namespace's change feed (Files.Watch, the console's live
 * changes): on some metadata node; if that node goes away, resumed on
 * another from the last cursor sent (no gap, no duplicate), until `signal`
 * aborts.
 */
import { BlockstoreError } from '../../lib/errors';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';

export interface ChangeEvent {
  cursor: number;
  kind: string;
  path: string;
  version: number;
  size: number;
  fromPath: string;
  time: string;
}

export async function followChanges(meta: MetaRouter, ns: string, prefix: string, from: number, signal: AbortSignal, send: (ev: ChangeEvent) => Promise<void>): Promise<void> {
  let cursor = from;
  for (;;) {
    try {
      await meta.read(async (c) => {
        for await (const ev of c.watch(ns, prefix, cursor, signal)) {
          await send({ cursor: ev.cursor, kind: ev.kind, path: ev.path, version: ev.version, size: ev.size, fromPath: ev.fromPath, time: ev.time });
          cursor = ev.cursor;
        }
      });
    } catch (err) {
      if (signal.aborted) return;
      if (!(err instanceof BlockstoreError && (err.code === 'UNAVAILABLE' || err.code === 'CANCELLED'))) throw err;
    }
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
