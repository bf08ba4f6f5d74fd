/**
 * The web console, on a real local cluster: its API's authorisation tried
 * without the page (the same rules as the gRPC API), then the page itself in
 * a real browser (Debian's chromium, headless, driven by puppeteer-core):
 * an admin sees every node live, sees a SIGKILLed gateway restarted (new
 * process, restart counted) and a frozen one go unreachable and come back;
 * an admin drains a block daemon from the page and watches its blocks move
 * away, and runs a QAS-001 drill from the quality tab to its verdict; a user cannot see the cluster, uploads a file through the page and
 * downloads it again, byte for byte. Screenshots go to
 * .artifacts/console/ (or $BLOCKSTORE_ARTIFACTS/console/).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { StateDir } from '../../cluster/local/layout';
import { BlockstoreClient } from '../../sdk/client';
import { localClusterDown, localClusterUp } from '../harness/local-cluster';
import { BLOCKSTORE_BIN } from '../harness/process';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('web console');
const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const ARTIFACTS = join(process.env.BLOCKSTORE_ARTIFACTS ?? join(__dirname, '..', '..', '.artifacts'), 'console');
let dir: StateDir;
let consoleUrl = '';
let address = '';
let browser: Browser | undefined;
let scratch = '';

const token = (name: string) => readFileSync(dir.path(`${name}.token`), 'utf8').trim();
const gateways = () => dir.readState()!.nodes.filter((n) => n.role === 'gateway');

async function api(path: string, init: RequestInit & { bearer?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.bearer) headers.authorization = `Bearer ${init.bearer}`;
  return fetch(`${consoleUrl}api/${path}`, { ...init, headers });
}

async function signIn(page: Page, t: string): Promise<void> {
  await page.goto(consoleUrl, { waitUntil: 'domcontentloaded' });
  await page.type('#token', t);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])', { timeout: 10_000 });
}

interface Row {
  state: string;
  restarts: number;
  pid: number;
  /** A gateway's state in the balancer, as the supervisor reports it. */
  balancer: string;
}

/** What each node's row shows: id → state, restarts seen, pid. */
async function nodeRows(page: Page): Promise<Record<string, Row>> {
  const rows = await page.$$eval('#nodes tbody tr', (trs) =>
    trs.map((r) => {
      const e = r as unknown as { dataset: Record<string, string>; children: ArrayLike<{ textContent: string | null }> };
      return [e.dataset.node!, { state: e.dataset.state!, restarts: Number(e.dataset.restarts), pid: Number(e.children[6]!.textContent), balancer: e.children[4]!.textContent ?? '' }] as const;
    }),
  );
  return Object.fromEntries(rows);
}

let bob = '';

test.before(async () => {
  const up = await localClusterUp('console');
  dir = up.dir;
  consoleUrl = `http://127.0.0.1:${up.base + 80}/console/`;
  address = up.address;
  scratch = makeTempDir('console-browser');
  mkdirSync(ARTIFACTS, { recursive: true });
  const admin = new BlockstoreClient({ address: up.address, token: token('admin') });
  try {
    await admin.createUser('bob', 'Bob', 100 * 1024 * 1024);
    bob = (await admin.issueToken('bob')).token;
  } finally {
    admin.close();
  }
});

test.after(async () => {
  await browser?.close();
  await localClusterDown(dir);
  if (scratch) removeDir(scratch);
});

test('the API without the page: tokens only in the header, admin only for the cluster, each user in their own files', async () => {
  let r = await api('whoami');
  assert.is(r.status, 401);
  assert.is(r.headers.get('x-blockstore-error-code'), 'UNAUTHENTICATED');
  r = await api('cluster', { bearer: 'not-a-token' });
  assert.is(r.status, 401);
  r = await api('cluster', { bearer: token('user') });
  assert.is(r.status, 403);
  assert.is(((await r.json()) as { code: string }).code, 'PERMISSION_DENIED');
  r = await api(`whoami?token=${token('admin')}`, { bearer: token('admin') });
  assert.is(r.status, 400, 'a token in the URL is refused even beside a good header');
  r = await api('cluster', { bearer: token('admin') });
  assert.is(r.status, 200);
  const status = (await r.json()) as { nodes: Array<{ kind: string; state: string; startedAt: string }> };
  assert.ok(status.nodes.every((n) => n.state === 'up' || n.state === 'serving'), JSON.stringify(status.nodes));
  assert.ok(status.nodes.every((n) => Date.parse(n.startedAt) > 0), 'every node says when its process started');
  assert.equal(status.nodes.map((n) => n.kind).sort(), ['blockd', 'blockd', 'blockd', 'gateway', 'gateway', 'meta', 'meta', 'meta']);
  assert.match(r.headers.get('content-security-policy') ?? '', "script-src 'self'");
  assert.is(r.headers.get('set-cookie'), null, 'no cookies');

  // Bob's file is in Bob's namespace: the other user never sees it.
  const body = randomBytes(50_000);
  r = await api('file?path=private/bob.bin', { method: 'PUT', body, bearer: bob });
  assert.is(r.status, 200, await r.clone().text());
  r = await api('files?prefix=private/', { bearer: token('user') });
  assert.equal(((await r.json()) as { files: unknown[] }).files, []);
  r = await api('file?path=private/bob.bin', { bearer: token('user') });
  assert.is(r.status, 404);
  r = await api('file?path=private/bob.bin', { bearer: bob });
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(body));
  r = await api('cluster', { bearer: bob });
  assert.is(r.status, 403);
  r = await api('metrics', { bearer: bob });
  assert.is(r.status, 403);
  r = await api('metrics', { bearer: token('admin') });
  assert.is(r.status, 200);
  const metrics = (await r.json()) as { nodes: Array<{ id: string; ok: boolean; cpuSeconds: number; calls: Record<string, number> }> };
  assert.is(metrics.nodes.length, 8);
  assert.ok(metrics.nodes.every((n) => n.ok && n.cpuSeconds > 0), 'every node’s /metrics read');
  assert.ok(metrics.nodes.some((n) => Object.keys(n.calls).includes('CreateUser OK')), 'the gRPC call that made Bob counted by a gateway');
  r = await api('file?path=../escape', { method: 'PUT', body: 'x', bearer: token('user') });
  assert.is(r.status, 400);
  assert.is(r.headers.get('x-blockstore-error-code'), 'INVALID_PATH');
  // The page itself: same policy, no inline script.
  r = await fetch(consoleUrl);
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-security-policy') ?? '', "default-src 'none'");
  assert.not.match(await r.text(), /<script>|style="/);
});

test('in a browser: an admin sees every node live; a SIGKILLed gateway restarted, a frozen one unreachable and back', async () => {
  assert.ok(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (make deps installs Debian's chromium)`);
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'], userDataDir: join(scratch, 'profile') });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to|Failed to load/i.test(m.text())) violations.push(m.text());
  });
  page.on('pageerror', (e) => violations.push(`page error: ${(e as Error).message}`));
  await signIn(page, token('admin'));
  await waitFor('8 nodes shown, all up, both gateways up in the balancer', async () => {
    const rows = Object.values(await nodeRows(page));
    return rows.length === 8 && rows.every((r) => r.state === 'up' || r.state === 'serving') && rows.filter((r) => r.balancer === 'up').length === 2;
  }, 15_000);
  assert.match(await page.$eval('#actions', (e) => e.textContent ?? ''), 'balancer: gateway added', 'the supervisor’s actions are listed');
  assert.ok(await page.$('#tab-cluster:not([hidden])'), 'the admin has the cluster tab');
  // Traffic through the balancer shows up as calls/s and per-node CPU.
  const client = new BlockstoreClient({ address, token: token('user') });
  try {
    await client.put('console/seed', Buffer.from('seed'));
    const until = Date.now() + 3000;
    while (Date.now() < until) await Promise.all(Array.from({ length: 10 }, () => client.stat('console/seed')));
  } finally {
    client.close();
  }
  await waitFor('calls/s in the chart', async () => /ok [1-9]/.test(await page.$eval('#chart-calls', (svg) => svg.textContent ?? '')), 10_000);
  await page.screenshot({ path: join(ARTIFACTS, 'cluster.png'), fullPage: true });

  // SIGKILL: the supervisor restarts the gateway within a second or two;
  // the page shows the new process and counts the restart.
  const [victim, frozen] = gateways();
  process.kill(victim!.pid, 'SIGKILL');
  await waitFor(`${victim!.id} shown restarted`, async () => {
    const r = (await nodeRows(page))[victim!.id];
    return r !== undefined && r.restarts >= 1 && r.pid !== victim!.pid && r.state === 'serving';
  }, 60_000);
  await page.screenshot({ path: join(ARTIFACTS, 'gateway-restarted.png'), fullPage: true });

  // SIGSTOP: the process lives but does not answer; the page says so, then sees it back.
  process.kill(frozen!.pid, 'SIGSTOP');
  try {
    // Unreachable while its registration lives, gone from membership once its lease lapses; down in the balancer either way.
    await waitFor(`${frozen!.id} shown unreachable or gone, and down in the balancer`, async () => {
      const r = (await nodeRows(page))[frozen!.id];
      return (r?.state === 'unreachable' || r?.state === 'gone') && r.balancer === 'down';
    }, 20_000);
    await page.screenshot({ path: join(ARTIFACTS, 'gateway-frozen.png'), fullPage: true });
  } finally {
    process.kill(frozen!.pid, 'SIGCONT');
  }
  await waitFor(`${frozen!.id} shown serving again`, async () => (await nodeRows(page))[frozen!.id]?.state === 'serving', 20_000);
  const legend = await page.$eval('#chart-nodes', (svg) => svg.textContent ?? '');
  assert.match(legend, 'gateway 2', 'the chart’s legend shows both gateways up');
  assert.equal(violations, [], 'no Content-Security-Policy violation, no failed load, no script error');
  assert.is(await page.$eval('#poll-error', (e) => e.textContent), '', 'the last poll succeeded');
  // No `make qas` has run on this cluster: the quality tab says so (test/e2e/qas.test.ts shows a real report through the same API).
  await page.click('#tab-quality');
  await waitFor('the quality tab', async () => /no report yet/.test(await page.$eval('#qas-when', (e) => e.textContent ?? '')), 5_000);
  await page.close();
});

test('draining a block daemon from the page: its blocks are copied elsewhere, none is ever unavailable, the page shows it', async () => {
  // API first: a user may not drain; an unknown node is NOT_FOUND.
  let r = await api('drain?node=b1', { method: 'POST', bearer: token('user') });
  assert.is(r.status, 403);
  r = await api('drain?node=b9', { method: 'POST', bearer: token('admin') });
  assert.is(r.status, 404);
  // Three copies of every block need a fourth daemon before one can leave.
  await run(BLOCKSTORE_BIN, ['cluster', 'scale', 'blockd=4', '--state', dir.dir], { timeout: 180_000 });
  const client = new BlockstoreClient({ address, token: token('user') });
  try {
    for (let i = 0; i < 12; i++) await client.put(`drain/f${i}`, randomBytes(150_000));
  } finally {
    client.close();
  }
  const page = await browser!.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await signIn(page, token('admin'));
  const card = (name: string) => page.$eval(`[data-card="${name}"] .v`, (e) => Number(e.textContent));
  const blocksOf = async (id: string) => Number(await page.$eval(`#nodes tr[data-node="${id}"]`, (tr) => (tr as unknown as { children: ArrayLike<{ textContent: string | null }> }).children[13]!.textContent));
  await waitFor('b4 up and b1 holding blocks', async () => (await nodeRows(page))['b4']?.state === 'up' && (await blocksOf('b1')) > 0, 30_000);
  // Two clicks: the first arms the button, the second drains.
  await page.click('#nodes tr[data-node="b1"] button[data-drain="b1"]');
  await page.waitForSelector('#nodes tr[data-node="b1"] button.danger', { timeout: 5_000 });
  await page.click('#nodes tr[data-node="b1"] button[data-drain="b1"]');
  await waitFor('b1 shown draining', async () => (await nodeRows(page))['b1']?.state === 'draining', 10_000);
  // Drained once no block lists b1 any more (its copies go later, with garbage collection).
  const left = () => page.$eval('#nodes tr[data-node="b1"]', (tr) => (tr as unknown as { dataset: Record<string, string> }).dataset.drainLeft);
  let worstUnavailable = 0;
  await waitFor('b1 drained, nothing left under-replicated', async () => {
    worstUnavailable = Math.max(worstUnavailable, await card('unavailable'));
    return (await left()) === '0' && (await card('under-replicated')) === 0;
  }, 90_000);
  assert.match(await page.$eval('#nodes tr[data-node="b1"]', (e) => e.textContent ?? ''), 'draining (drained)');
  assert.is(worstUnavailable, 0, 'no block unavailable at any poll during the drain');
  assert.is(await page.$eval('#drain-error', (e) => e.textContent), '');
  await page.screenshot({ path: join(ARTIFACTS, 'drained.png'), fullPage: true });
  await page.close();
});

test('in a browser: a user has no cluster view, uploads a file through the page and downloads the same bytes', async () => {
  assert.ok(browser, 'the browser from the test before');
  const page = await browser!.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  await signIn(page, token('user'));
  assert.ok(await page.$('#tab-cluster[hidden]'), 'no cluster tab for a user');
  assert.ok(await page.$('#files:not([hidden])'));

  const file = join(scratch, 'photo.bin');
  const bytes = randomBytes(3 * 1024 * 1024 + 12_345);
  writeFileSync(file, bytes);
  await page.type('#prefix', 'console/');
  const input = await page.$('#upload-input');
  await (input as unknown as { uploadFile(...paths: string[]): Promise<void> }).uploadFile(file);
  await page.waitForSelector('[data-upload="console/photo.bin"][data-done]', { timeout: 30_000 });
  assert.is(await page.$eval('[data-upload="console/photo.bin"]', (e) => (e as unknown as { dataset: Record<string, string> }).dataset.done), 'ok', await page.$eval('#uploads', (e) => e.textContent ?? ''));
  await page.waitForSelector('#file-list tr[data-path="console/photo.bin"]', { timeout: 10_000 });
  await page.waitForSelector('#events li[data-event="put console/photo.bin"]', { timeout: 10_000 });
  // A change made elsewhere (the SDK, through the balancer) arrives on the open page.
  const other = new BlockstoreClient({ address, token: token('user') });
  try {
    await other.put('console/elsewhere.txt', Buffer.from('written by another client'));
  } finally {
    other.close();
  }
  await page.waitForSelector('#events li[data-event="put console/elsewhere.txt"]', { timeout: 10_000 });
  await page.waitForSelector('#file-list tr[data-path="console/elsewhere.txt"]', { timeout: 10_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'files.png'), fullPage: true });

  const downloads = join(scratch, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.click('#file-list tr[data-path="console/photo.bin"] button');
  await waitFor('the download to finish', () => readdirSync(downloads).includes('photo.bin'), 30_000);
  await waitFor('the whole file', () => readFileSync(join(downloads, 'photo.bin')).length === bytes.length, 10_000);
  assert.ok(readFileSync(join(downloads, 'photo.bin')).equals(bytes), 'the downloaded bytes are the uploaded ones');
  await page.close();
});

test('in a browser: an admin runs a QAS-001 drill from the quality tab and watches it to its verdict', async () => {
  let r = await api('drill', { method: 'POST', bearer: token('user') });
  assert.is(r.status, 403);
  const page = await browser!.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  await signIn(page, token('admin'));
  await page.click('#tab-quality');
  await page.waitForSelector('#drill:not([disabled])', { timeout: 10_000 });
  await page.click('#drill');
  await page.waitForSelector('#drill-status[data-state="running"]', { timeout: 15_000 });
  r = await api('drill', { method: 'POST', bearer: token('admin') });
  assert.is(r.status, 409, 'one drill at a time');
  // Live: the run's own lines (its faults as they happen, its counts) arrive while it runs.
  await waitFor('a fault told while the drill runs', async () => (await page.$eval('#drill-status', (e) => (e as unknown as { dataset: Record<string, string> }).dataset.state)) === 'running' && /SIGKILL g\d/.test(await page.$eval('#drill-output', (e) => e.textContent ?? '')), 90_000);
  await page.waitForSelector('#drill-status:not([data-state="running"])', { timeout: 150_000 });
  const state = await page.$eval('#drill-status', (e) => (e as unknown as { dataset: Record<string, string> }).dataset.state);
  const report = (await (await api('qas', { bearer: token('admin') })).json()) as { report: Array<{ id: string; pass: boolean; verdict: string; measures: Record<string, number> }> };
  const q1 = report.report.find((q) => q.id === 'QAS-001');
  assert.ok(q1, 'the drill wrote a QAS-001 report');
  assert.is(state, q1!.pass ? 'passed' : 'failed', 'the page states the report’s verdict');
  assert.ok(q1!.measures.success >= 0.999, `QAS-001 success ${q1!.measures.success}: ${q1!.verdict}`);
  await page.waitForSelector('#qas-table tr[data-qas="QAS-001"]', { timeout: 10_000 });
  assert.is(await page.$eval('#qas-table tr[data-qas="QAS-001"] td:last-child', (e) => e.textContent), q1!.verdict);
  assert.match(await page.$eval('#drill-output', (e) => e.textContent ?? ''), 'QAS-001');
  await page.screenshot({ path: join(ARTIFACTS, 'drill.png'), fullPage: true });
  await page.close();
});

test.run();
