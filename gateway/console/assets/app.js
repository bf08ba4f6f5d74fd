// blockstore web console: plain JavaScript, no framework. The token lives in
// sessionStorage and travels only in the Authorization header.
'use strict';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'blockstore.token';
const HISTORY_MS = 5 * 60 * 1000;
const POLL_MS = 1000;
let me = null;
let pollTimer = null;
const seen = new Map(); // nodes seen this session: kind/id → last NodeInfo
const history = []; // { t, up: {meta, blockd, gateway}, under, unavailable }

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

async function api(path, options = {}) {
  const res = await fetch(`api/${path}`, { ...options, headers: { ...(options.headers || {}), authorization: `Bearer ${token()}` } });
  // (Polls pass a timeout signal: a frozen gateway must not stall the view.)
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const body = await res.json();
      message = `${body.code}: ${body.message}`;
    } catch {
      // not JSON
    }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function bytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function uptime(startedAt, now) {
  const t = Date.parse(startedAt);
  if (!t) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

function bar(used, total) {
  const outer = el('span', { class: 'bar', title: `${bytes(used)} of ${bytes(total)}` });
  const inner = el('span');
  inner.style.width = `${total > 0 ? Math.min(100, (100 * used) / total) : 0}%`;
  outer.append(inner);
  return outer;
}

// ---- sign-in and tabs -------------------------------------------------------

async function signIn(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
  try {
    me = await (await api('whoami')).json();
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    $('signin-error').textContent = `Sign-in failed: ${err.message}`;
    return;
  }
  $('signin-error').textContent = '';
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('who').textContent = `${me.userId} (${me.scope})`;
  $('tab-cluster').hidden = me.scope !== 'admin';
  $('tab-quality').hidden = me.scope !== 'admin';
  show(me.scope === 'admin' ? 'cluster' : 'files');
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

function show(tab) {
  for (const t of ['cluster', 'files', 'quality']) {
    $(t).hidden = t !== tab;
    $(`tab-${t}`).classList.toggle('active', t === tab);
  }
  clearTimeout(pollTimer);
  if (tab !== 'files') {
    watching?.abort.abort();
    watching = null;
  }
  clearTimeout(drillTimer);
  if (tab === 'cluster') poll();
  else if (tab === 'quality') void quality().then(drillPoll);
  else listFiles();
}

// ---- cluster ------------------------------------------------------------------

let lastMetrics = null;
let operator = {};

function renderOperator() {
  $('operator-source').textContent = operator.source ? `${operator.source}, updated ${new Date(operator.updatedAt).toLocaleTimeString()}` : 'no operator has reported';
  const actions = (operator.actions || []).slice(-12).reverse();
  $('actions').replaceChildren(...actions.map((a) => el('li', {}, el('time', {}, new Date(a.time).toLocaleTimeString()), ' ', a.action)));
}

function balancerState(n) {
  if (n.kind !== 'gateway') return '';
  const b = (operator.balancer || []).find((x) => x.id === n.id || x.address === n.address);
  return b ? b.state : operator.source ? 'not in the balancer' : '';
}
const nodeUsage = new Map(); // kind/id → { cores, rss }
const traffic = []; // { t, ok, failed, p50, p99 }

/** Rates and percentiles between two metrics samples (calls and latency: the gateways, i.e. the public API). */
function takeMetrics(m) {
  const prev = lastMetrics;
  lastMetrics = m;
  if (!prev) return;
  const dt = (m.at - prev.at) / 1000;
  if (dt <= 0) return;
  const before = new Map(prev.nodes.map((n) => [`${n.kind}/${n.id}`, n]));
  let ok = 0;
  let failed = 0;
  const buckets = {};
  for (const n of m.nodes) {
    const p = before.get(`${n.kind}/${n.id}`);
    if (!n.ok || !p || !p.ok) continue;
    nodeUsage.set(`${n.kind}/${n.id}`, { cores: Math.max(0, (n.cpuSeconds - p.cpuSeconds) / dt), rss: n.rssBytes });
    if (n.kind !== 'gateway') continue;
    for (const [k, v] of Object.entries(n.calls)) {
      const d = v - (p.calls[k] || 0);
      if (d <= 0) continue;
      if (k.endsWith(' OK')) ok += d;
      else failed += d;
    }
    for (const [le, v] of Object.entries(n.buckets)) buckets[le] = (buckets[le] || 0) + Math.max(0, v - (p.buckets[le] || 0));
  }
  traffic.push({ t: m.at, ok: ok / dt, failed: failed / dt, p50: percentile(buckets, 0.5), p99: percentile(buckets, 0.99) });
  while (traffic.length && traffic[0].t < m.at - HISTORY_MS) traffic.shift();
}

/** The bucket bound (ms) below which a share q of the calls fell; 0 without calls. */
function percentile(buckets, q) {
  const bounds = Object.keys(buckets).sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const total = buckets['+Inf'] || 0;
  if (!total) return 0;
  for (const le of bounds) if (buckets[le] >= q * total) return le === '+Inf' ? 30_000 : Number(le) * 1000;
  return 0;
}

let polling = false;
let pollAgain = false;

/** One look at the cluster, then the next in POLL_MS; `now` (after an action) looks again at once, never two at a time. */
async function poll(now = false) {
  if (polling) {
    pollAgain = pollAgain || now;
    return;
  }
  clearTimeout(pollTimer);
  polling = true;
  try {
    const [s, m, o] = await Promise.all([
      api('cluster', { signal: AbortSignal.timeout(3000) }).then((r) => r.json()),
      api('metrics', { signal: AbortSignal.timeout(3000) }).then((r) => r.json()).catch(() => null),
      api('operator', { signal: AbortSignal.timeout(3000) }).then((r) => r.json()).catch(() => null),
    ]);
    if (m) takeMetrics(m);
    if (o) operator = o;
    renderCluster(s);
    renderOperator();
    $('poll-error').textContent = '';
  } catch (err) {
    $('poll-error').textContent = `(last poll failed: ${err.message})`;
  } finally {
    polling = false;
  }
  if (!$('cluster').hidden) pollTimer = setTimeout(poll, pollAgain ? 0 : POLL_MS);
  pollAgain = false;
}

function renderCluster(s) {
  const now = Date.now();
  $('updated').textContent = new Date(now).toLocaleTimeString();
  const cards = [
    ['master', s.masterId || 'none'],
    ['epoch', s.epoch],
    ['commit position', s.commitPosition],
    ['synchronous set', (s.syncReplicas || []).join(', ') || 'none'],
    ['blocks', s.blocks],
    ['stored', `${bytes(s.blockBytes)} of ${bytes(s.capacityBytes)}`],
    ['corrupt copies', s.corruptBlocks],
    ['under-replicated', s.underReplicatedBlocks],
    ['unavailable', s.unavailableBlocks],
    ['repair', s.repairLeader ? `${s.repairLeader}, last pass ${s.repairLastPass ? new Date(s.repairLastPass).toLocaleTimeString() : '—'}` : 'idle'],
  ];
  $('summary').replaceChildren(...cards.map(([k, v]) => el('div', { class: 'card', 'data-card': k }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v))));

  const present = new Set();
  for (const n of s.nodes) {
    const key = `${n.kind}/${n.id}`;
    present.add(key);
    const before = seen.get(key);
    // A new process under the same id (the supervisor restarted it): counted, and marked for a while.
    n.restarts = before ? before.restarts + (before.pid !== n.pid ? 1 : 0) : 0;
    n.restartedAt = before && before.pid !== n.pid ? now : before ? before.restartedAt : 0;
    seen.set(key, n);
  }
  const rows = [...seen.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => {
      // A node that left membership (crashed, its lease lapsed) stays listed as gone until it is back.
      const state = present.has(key) ? n.state : 'gone';
      const usage = n.kind === 'blockd' ? bar(Number(n.usedBytes), Number(n.capacityBytes)) : '';
      const restarted = n.restartedAt && now - n.restartedAt < 60_000 ? ' (restarted)' : '';
      // A draining daemon: how many blocks still list it (the repair worker's last pass); 0 = drained.
      const left = n.kind === 'blockd' && state === 'draining' && s.draining && n.id in s.draining ? s.draining[n.id] : undefined;
      const note = left === undefined ? '' : left === 0 ? ' (drained)' : ` (${left} blocks to move)`;
      return el('tr', { 'data-node': n.id, 'data-state': state, 'data-restarts': n.restarts, 'data-drain-left': left ?? '' },
        el('td', {}, n.kind), el('td', {}, n.id), el('td', {}, n.role), el('td', { class: `state-${state}` }, state + restarted + note),
        el('td', { class: `state-${balancerState(n)}`, 'data-balancer': balancerState(n) }, balancerState(n)),
        el('td', {}, n.address), el('td', {}, n.pid || ''), el('td', {}, uptime(n.startedAt, now)), el('td', {}, n.restarts),
        el('td', {}, nodeUsage.has(key) && present.has(key) ? nodeUsage.get(key).cores.toFixed(2) : ''),
        el('td', {}, nodeUsage.has(key) && present.has(key) ? bytes(nodeUsage.get(key).rss) : ''),
        el('td', {}, n.kind === 'meta' ? n.replicationLag : ''),
        el('td', {}, usage), el('td', {}, n.kind === 'blockd' ? n.blocks : ''), el('td', {}, n.kind === 'blockd' ? n.corruptBlocks : ''),
        el('td', {}, drainButton(n, state)));
    });
  $('nodes').tBodies[0].replaceChildren(...rows);

  const up = { meta: 0, blockd: 0, gateway: 0 };
  for (const n of s.nodes) if (n.state === 'up' || n.state === 'serving' || n.state === 'draining') up[n.kind] = (up[n.kind] || 0) + 1;
  history.push({ t: now, up, under: Number(s.underReplicatedBlocks), unavailable: Number(s.unavailableBlocks) });
  while (history.length && history[0].t < now - HISTORY_MS) history.shift();
  lineChart($('chart-nodes'), [
    { name: 'meta', color: '#8250df', values: history.map((h) => [h.t, h.up.meta]) },
    { name: 'blockd', color: '#0969da', values: history.map((h) => [h.t, h.up.blockd]) },
    { name: 'gateway', color: '#1a7f37', values: history.map((h) => [h.t, h.up.gateway]) },
  ], 'nodes up');
  lineChart($('chart-calls'), [
    { name: 'ok', color: '#1a7f37', values: traffic.map((h) => [h.t, Math.round(h.ok)]) },
    { name: 'failed', color: '#cf222e', values: traffic.map((h) => [h.t, Math.round(h.failed)]) },
  ], 'calls/s');
  lineChart($('chart-latency'), [
    { name: 'p50', color: '#0969da', values: traffic.map((h) => [h.t, h.p50]) },
    { name: 'p99', color: '#8250df', values: traffic.map((h) => [h.t, h.p99]) },
  ], 'ms');
  lineChart($('chart-repair'), [
    { name: 'under-replicated', color: '#9a6700', values: history.map((h) => [h.t, h.under]) },
    { name: 'unavailable', color: '#cf222e', values: history.map((h) => [h.t, h.unavailable]) },
  ], 'blocks');
}

// Draining takes two clicks: the first arms the button for a few seconds.
let drainArmed = { key: '', until: 0 };

/** A drain button for a serving block daemon or gateway (the repair worker moves a daemon's blocks away first). */
function drainButton(n, state) {
  if ((n.kind !== 'blockd' && n.kind !== 'gateway') || (state !== 'up' && state !== 'serving')) return '';
  const key = `${n.kind}/${n.id}`;
  const armed = drainArmed.key === key && Date.now() < drainArmed.until;
  return el('button', {
    type: 'button', class: armed ? 'danger' : '', 'data-drain': n.id,
    onclick: async () => {
      if (!(drainArmed.key === key && Date.now() < drainArmed.until)) {
        drainArmed = { key, until: Date.now() + 5000 };
        return poll(true);
      }
      drainArmed = { key: '', until: 0 };
      try {
        await api(`drain?node=${encodeURIComponent(n.id)}`, { method: 'POST' });
        $('drain-error').textContent = '';
      } catch (err) {
        $('drain-error').textContent = `drain ${n.id}: ${err.message}`;
      }
      return poll(true);
    },
  }, armed ? `confirm: drain ${n.id}` : 'drain');
}

/** A line chart with labelled axes: x = seconds before now, y = the values' unit. */
function lineChart(svg, series, yLabel) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 480, H = 200, L = 44, R = 118, T = 10, B = 30;
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const now = Date.now();
  const maxY = Math.max(1, ...series.flatMap((s) => s.values.map(([, v]) => v)));
  const niceMax = Math.ceil(maxY * 1.1);
  const x = (t) => L + ((t - (now - HISTORY_MS)) / HISTORY_MS) * (W - L - R);
  const y = (v) => H - B - (v / niceMax) * (H - T - B);
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const v = Math.round((niceMax * i) / 4);
    parts.push(mk('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    parts.push(mk('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end' }, v));
  }
  for (let m = 0; m <= 5; m++) {
    const t = now - HISTORY_MS + m * 60_000;
    parts.push(mk('text', { x: x(t), y: H - B + 12, 'text-anchor': 'middle' }, m === 5 ? 'now' : `-${5 - m} min`));
  }
  parts.push(mk('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
  parts.push(mk('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  parts.push(mk('text', { x: 10, y: (H - B) / 2, transform: `rotate(-90 10 ${(H - B) / 2})`, 'text-anchor': 'middle' }, yLabel));
  parts.push(mk('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, 'time'));
  series.forEach((s, i) => {
    if (s.values.length) {
      const d = s.values.map(([t, v], j) => `${j ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      parts.push(mk('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2 }));
    }
    parts.push(mk('rect', { x: W - R + 8, y: T + i * 16, width: 10, height: 10, fill: s.color }));
    parts.push(mk('text', { x: W - R + 22, y: T + i * 16 + 9 }, `${s.name} ${s.values.length ? s.values[s.values.length - 1][1] : ''}`));
  });
  svg.replaceChildren(...parts);
}

// ---- quality scenarios ------------------------------------------------------------

async function quality() {
  const r = await (await api('qas')).json();
  if (!r.report) {
    $('qas-when').textContent = '— no report yet: run make qas';
    $('qas-table').tBodies[0].replaceChildren();
    $('qas-plots').replaceChildren();
    return;
  }
  $('qas-when').textContent = `— report of ${new Date(r.at).toLocaleString()}`;
  $('qas-table').tBodies[0].replaceChildren(...r.report.map((q) => el('tr', { 'data-qas': q.id, 'data-pass': q.pass },
    el('td', {}, q.id), el('td', {}, q.title), el('td', { class: q.pass ? 'state-up' : 'state-down' }, q.verdict))));
  // Plots are fetched with the token (an <img> cannot send one), then shown from a blob: URL.
  const plots = await Promise.all(r.report.map(async (q) => {
    try {
      const blob = await (await api(`qas-plot?id=${encodeURIComponent(q.id)}`)).blob();
      return el('figure', {}, el('figcaption', {}, q.id), el('img', { src: URL.createObjectURL(blob), alt: `${q.id} plot: offered and achieved calls/s and p99 over time` }));
    } catch {
      return el('figure', {}, el('figcaption', {}, `${q.id}: no plot`));
    }
  }));
  $('qas-plots').replaceChildren(...plots);
}

let drillTimer = null;
let drillShown = ''; // the drill (id/state) whose end last reloaded the report

/** The operator's latest drill, polled every second while the quality tab is open. */
async function drillPoll() {
  clearTimeout(drillTimer);
  try {
    const o = await (await api('operator', { signal: AbortSignal.timeout(3000) })).json();
    const d = o.drill;
    $('drill').disabled = !o.source || (d && d.state === 'running');
    $('drill').title = o.source ? '' : 'no operator reports on this cluster: nothing would run the drill';
    $('drill-status').hidden = !d;
    if (d) {
      $('drill-status').dataset.state = d.state;
      $('drill-state').textContent = d.state;
      $('drill-state').className = d.state === 'passed' ? 'state-up' : d.state === 'failed' ? 'state-down' : 'state-draining';
      $('drill-meta').textContent = `— asked by ${d.requestedBy}, started ${new Date(d.startedAt).toLocaleTimeString()}${d.finishedAt ? `, ended ${new Date(d.finishedAt).toLocaleTimeString()}` : ''}`;
      $('drill-output').textContent = d.output.join('\n');
      const key = `${d.id}/${d.state}`;
      if (d.state !== 'running' && drillShown !== key) {
        drillShown = key;
        await quality();
      }
    }
  } catch (err) {
    $('drill-error').textContent = `operator status: ${err.message}`;
  }
  if (!$('quality').hidden) drillTimer = setTimeout(drillPoll, POLL_MS);
}

async function startDrill() {
  $('drill-error').textContent = '';
  $('drill').disabled = true;
  try {
    await api('drill', { method: 'POST' });
  } catch (err) {
    $('drill-error').textContent = `drill: ${err.message}`;
  }
  await drillPoll();
}

// ---- files --------------------------------------------------------------------

let watching = null; // { prefix, abort }
let relist = null;

/** Follows the change feed under the prefix (history, then live), newest first; the list refreshes as changes arrive. */
async function watch() {
  const prefix = $('prefix').value;
  if (watching && watching.prefix === prefix) return;
  watching?.abort.abort();
  const abort = new AbortController();
  watching = { prefix, abort };
  const list = $('events');
  list.replaceChildren();
  try {
    const res = await api(`watch?prefix=${encodeURIComponent(prefix)}`, { signal: abort.signal });
    $('watch-state').textContent = `following changes under "${prefix}"`;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const ev = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        list.prepend(el('li', { 'data-event': `${ev.kind} ${ev.path}` }, el('time', {}, new Date(ev.time).toLocaleTimeString()), ` ${ev.kind} ${ev.path}`, ev.version ? ` v${ev.version}` : '', ev.fromPath ? ` (from ${ev.fromPath})` : ''));
        while (list.children.length > 50) list.lastChild.remove();
        clearTimeout(relist);
        relist = setTimeout(listFiles, 300);
      }
    }
    $('watch-state').textContent = 'the change feed ended';
  } catch (err) {
    if (!abort.signal.aborted) $('watch-state').textContent = `the change feed stopped: ${err.message}`;
  }
  if (watching && watching.abort === abort) watching = null;
}

async function listFiles() {
  $('files-error').textContent = '';
  void watch();
  try {
    const r = await (await api(`files?prefix=${encodeURIComponent($('prefix').value)}`)).json();
    $('file-list').tBodies[0].replaceChildren(...r.files.map((f) => el('tr', { 'data-path': f.path },
      el('td', {}, f.path), el('td', {}, bytes(f.size)), el('td', {}, f.version), el('td', {}, new Date(f.modified).toLocaleString()),
      el('td', {}, el('button', { type: 'button', onclick: () => download(f.path, 0) }, 'download'), ' ', el('button', { type: 'button', onclick: () => versions(f.path) }, 'versions')))));
  } catch (err) {
    $('files-error').textContent = err.message;
  }
}

async function versions(path) {
  try {
    const r = await (await api(`versions?path=${encodeURIComponent(path)}`)).json();
    $('versions-path').textContent = path;
    $('versions').hidden = false;
    $('versions').querySelector('tbody').replaceChildren(...r.versions.map((v) => el('tr', {},
      el('td', {}, v.version), el('td', {}, bytes(v.size)), el('td', {}, new Date(v.modified).toLocaleString()), el('td', {}, v.author),
      el('td', {}, v.deleted ? 'deleted' : ''),
      el('td', {}, v.deleted ? '' : el('button', { type: 'button', onclick: () => download(path, v.version) }, 'download'), ' ',
        el('button', { type: 'button', onclick: () => restore(path, v.version) }, 'restore')))));
  } catch (err) {
    $('files-error').textContent = err.message;
  }
}

async function restore(path, version) {
  try {
    await api(`restore?path=${encodeURIComponent(path)}&version=${version}`, { method: 'POST' });
    await listFiles();
    await versions(path);
  } catch (err) {
    $('files-error').textContent = err.message;
  }
}

async function download(path, version) {
  try {
    const blob = await (await api(`file?path=${encodeURIComponent(path)}&version=${version}`)).blob();
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: path.split('/').pop() || 'download' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    $('files-error').textContent = err.message;
  }
}

/** Uploads with XMLHttpRequest: fetch reports no upload progress. */
function upload(file) {
  const path = `${$('prefix').value}${file.name}`;
  const progress = el('progress', { max: 100, value: 0 });
  const label = el('span', {}, `${path}: 0 %`);
  const row = el('div', { class: 'upload', 'data-upload': path }, progress, label);
  $('uploads').append(row);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `api/file?path=${encodeURIComponent(path)}`);
    xhr.setRequestHeader('authorization', `Bearer ${token()}`);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      progress.value = Math.round((100 * e.loaded) / e.total);
      label.textContent = `${path}: ${progress.value} %`;
    };
    xhr.onload = () => {
      if (xhr.status === 200) {
        progress.value = 100;
        label.textContent = `${path}: stored, version ${JSON.parse(xhr.responseText).file.version}`;
        row.dataset.done = 'ok';
      } else {
        let message = `HTTP ${xhr.status}`;
        try {
          const b = JSON.parse(xhr.responseText);
          message = `${b.code}: ${b.message}`;
        } catch {
          // not JSON
        }
        label.textContent = `${path}: failed, ${message}`;
        row.dataset.done = 'failed';
      }
      resolve();
    };
    xhr.onerror = () => {
      label.textContent = `${path}: failed, the connection broke`;
      row.dataset.done = 'failed';
      resolve();
    };
    xhr.send(file);
  });
}

async function uploadAll(files) {
  for (const f of files) await upload(f);
  await listFiles();
}

// ---- wiring ---------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void signIn($('token').value.trim());
  });
  $('sign-out').addEventListener('click', signOut);
  $('drill').addEventListener('click', startDrill);
  for (const b of document.querySelectorAll('nav [data-tab]')) b.addEventListener('click', () => show(b.dataset.tab));
  $('list-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void listFiles();
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void uploadAll([...e.dataTransfer.files]);
  });
  $('upload-input').addEventListener('change', (e) => void uploadAll([...e.target.files]));
  if (token()) void signIn(token());
});
