/**
 * The web console, served by every gateway on its HTTP side port under
 * /console/ (and by the local balancer on one fixed port across them).
 *
 * The page (gateway/console/assets: plain HTML, CSS and JavaScript, no
 * framework, no build step) signs in with a token the user pastes, keeps it
 * in sessionStorage and sends it as `Authorization: Bearer …` on each API
 * call: never in a URL, no cookies. Every API below authenticates and
 * authorises exactly as the gRPC API does (Authenticator; admin scope for
 * the cluster; a user sees only their own namespace).
 *
 *   GET  /console/api/whoami                     {userId, scope}
 *   GET  /console/api/cluster                    admin: Admin.GetClusterStatus's answer, and {draining: node → blocks that still list it}
 *   GET  /console/api/operator                   admin: the operator's recent actions and balancer view (coordination/keys.ts), or {}
 *   GET  /console/api/qas                        admin: the latest `blockstore qas` report (JSON), or {"report": null}
 *   GET  /console/api/qas-plot?id=QAS-00N        admin: that scenario's plot (SVG)
 *   GET  /console/api/metrics                    admin: every node's CPU, memory, calls and latency buckets (node-metrics.ts)
 *   POST /console/api/drain?node=                admin: Admin.DrainNode
 *   POST /console/api/drill                      admin: asks the operator for a short QAS-001 drill ({id}; progress in /operator)
 *   GET  /console/api/files?prefix=&page=        ListFiles
 *   GET  /console/api/versions?path=             ListVersions
 *   GET  /console/api/file?path=&version=        the bytes (GetFile)
 *   PUT  /console/api/file?path=                 the body becomes a new version (PutFile)
 *   POST /console/api/restore?path=&version=     RestoreVersion
 *   GET  /console/api/watch?prefix=              Watch: change events, one JSON object a line, history then live
 *
 * Answers carry a strict Content-Security-Policy (scripts and styles from
 * this origin only, nothing framed), nosniff and no-referrer.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { BlockstoreError } from '../../lib/errors';
import { sendError } from '../../lib/http/errors';
import { intParam } from '../../lib/http/query';
import type { Authenticator, Caller } from '../auth/authenticator';
import type { FileService } from '../files/file-service';
import { sampleNodes } from './node-metrics';
import { ROOT } from '../../lib/root';

export const CONSOLE_PATH = '/console/';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

export interface ConsoleDeps {
  auth: Pick<Authenticator, 'authenticate'>;
  files: Pick<FileService, 'list' | 'versions' | 'getFile' | 'putFile' | 'restore'>;
  /** The cluster's status (what Admin.GetClusterStatus answers), with `draining`: node → blocks that still list it. */
  status: () => Promise<unknown>;
  /** What the operator (supervisor) last reported, if anything. */
  operator: () => Promise<unknown>;
  /** Follows a namespace's change feed under a prefix, from its start, until `signal` aborts. */
  watch: (ns: string, prefix: string, signal: AbortSignal, send: (event: unknown) => Promise<void>) => Promise<void>;
  /** Asks the operator for a QAS-001 drill; resolves to the request's id. */
  drill: (requestedBy: string) => Promise<string>;
  /** Asks a live node to drain (Admin.DrainNode). */
  drain: (nodeId: string) => Promise<void>;
  /** Every node's side port, for its metrics. */
  nodes: () => Promise<Array<{ id: string; kind: string; httpAddress: string }>>;
  /** Where `blockstore qas` writes its reports ('' or absent: none). */
  reportsDir?: string;
  /** Where index.html, app.js and app.css are (default: ./assets beside this file). */
  assetsDir?: string;
}

/** A query parameter that must be there and not empty. */
function param(url: URL, name: string): string {
  const v = url.searchParams.get(name);
  if (!v) throw new BlockstoreError('INVALID_ARGUMENT', `${name}: required`);
  return v;
}

function json(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) }).end(body);
}

/** The console's request handler: true when it answered (a /console path), false to let the side port go on. */
export function consoleHandler(deps: ConsoleDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const dir = deps.assetsDir ?? join(ROOT, 'gateway', 'console', 'assets');
  // Read once: the page is small and never changes while the gateway runs.
  const assets = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(join(dir, name)) }]));

  const api = async (req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<void> => {
    const route = `${req.method} ${url.pathname.slice(`${CONSOLE_PATH}api/`.length)}`;
    // A token only ever in the Authorization header (a token in the URL would end up in logs and history).
    if (url.searchParams.has('token') || url.searchParams.has('access_token')) throw new BlockstoreError('INVALID_ARGUMENT', 'tokens go in the Authorization header, never in the URL');
    const who: Caller = await deps.auth.authenticate(req.headers.authorization);
    switch (route) {
      case 'GET whoami':
        return json(res, { userId: who.userId, scope: who.scope });
      case 'GET cluster':
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'the cluster view needs an admin token');
        return json(res, await deps.status());
      case 'GET operator':
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'the operator view needs an admin token');
        return json(res, (await deps.operator()) ?? {});
      case 'GET qas': {
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'quality reports need an admin token');
        const file = deps.reportsDir ? join(deps.reportsDir, 'qas-report.json') : '';
        if (!file || !existsSync(file)) return json(res, { report: null });
        return json(res, { report: JSON.parse(readFileSync(file, 'utf8')) as unknown, at: statSync(file).mtime.toISOString() });
      }
      case 'GET qas-plot': {
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'quality reports need an admin token');
        const id = param(url, 'id');
        // A scenario id only: no path reaches outside the reports directory.
        if (!/^QAS-\d{3}$/.test(id)) throw new BlockstoreError('INVALID_ARGUMENT', `id: a scenario id such as QAS-001, got ${JSON.stringify(id.slice(0, 20))}`);
        const file = deps.reportsDir ? join(deps.reportsDir, `${id}.svg`) : '';
        if (!file || !existsSync(file)) throw new BlockstoreError('NOT_FOUND', `no plot for ${id}`);
        const body = readFileSync(file);
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'image/svg+xml', 'cache-control': 'no-store', 'content-length': body.length }).end(body);
        return;
      }
      case 'GET metrics':
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'cluster metrics need an admin token');
        return json(res, { at: Date.now(), nodes: await sampleNodes(await deps.nodes()) });
      case 'POST drain':
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'draining a node needs an admin token');
        await deps.drain(param(url, 'node'));
        return json(res, { accepted: true });
      case 'POST drill': {
        if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'a drill needs an admin token');
        const current = ((await deps.operator()) as { drill?: { state: string } } | undefined)?.drill;
        if (current?.state === 'running') throw new BlockstoreError('ALREADY_EXISTS', 'a drill is running already');
        return json(res, { id: await deps.drill(who.userId) });
      }
      case 'GET files': {
        const r = await deps.files.list(who.userId, url.searchParams.get('prefix') ?? '', 200, url.searchParams.get('page') ?? '', 0);
        return json(res, { files: r.files, next: r.next });
      }
      case 'GET versions':
        return json(res, { versions: await deps.files.versions(who.userId, param(url, 'path'), 0) });
      case 'GET file': {
        const { info, data } = await deps.files.getFile(who.userId, param(url, 'path'), intParam(url, 'version'), 0, 0, 0, signal);
        const name = info.path.split('/').pop() || 'download';
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'application/octet-stream',
          'content-length': info.size,
          'cache-control': 'no-store',
          'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
          'x-blockstore-version': String(info.version),
          'x-blockstore-content-hash': info.contentHash,
        });
        for await (const piece of data) {
          if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
        }
        res.end();
        return;
      }
      case 'PUT file': {
        const r = await deps.files.putFile(who.userId, who.tokenId, { path: param(url, 'path'), expectedVersion: undefined, idempotencyKey: '', contentHash: '' }, req as AsyncIterable<Uint8Array>, signal);
        return json(res, { file: r.file, position: r.position });
      }
      case 'POST restore': {
        const r = await deps.files.restore(who.userId, who.tokenId, param(url, 'path'), intParam(url, 'version'), undefined, '');
        return json(res, { file: r.file, position: r.position });
      }
      case 'GET watch': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
        // The headers go now: the page knows the feed is open before the first event.
        res.flushHeaders();
        await deps.watch(who.userId, url.searchParams.get('prefix') ?? '', signal, async (event) => {
          if (!res.write(`${JSON.stringify(event)}\n`)) await new Promise((r) => res.once('drain', r));
        });
        res.end();
        return;
      }
      default:
        throw new BlockstoreError('NOT_FOUND', `no such console API: ${route.slice(0, 80)}`);
    }
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://console');
    if (url.pathname === '/console') {
      res.writeHead(308, { location: CONSOLE_PATH }).end();
      return true;
    }
    if (!url.pathname.startsWith(CONSOLE_PATH)) return false;
    if (url.pathname.startsWith(`${CONSOLE_PATH}api/`)) {
      const abort = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abort.abort();
      });
      void api(req, res, url, abort.signal).catch((err: unknown) => sendError(res, err, req.complete, SECURITY_HEADERS));
      return true;
    }
    const asset = assets.get(url.pathname.slice(CONSOLE_PATH.length) || 'index.html');
    if (!asset || req.method !== 'GET') {
      sendError(res, new BlockstoreError('NOT_FOUND', 'no such page'), req.complete, SECURITY_HEADERS);
      return true;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' }).end(asset.body);
    return true;
  };
}
