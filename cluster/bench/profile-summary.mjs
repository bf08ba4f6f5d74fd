// Summarise .cpuprofile files by role: self time per function (top N).
// node profile-summary.mjs DIR [TOP] [--window NAME]: with --window, only the
// samples taken during the bench workloads whose name contains NAME
// (DIR/windows.jsonl, written by the data path bench), so start-up, warm-up
// and idle time do not count. With --inclusive, each function's time
// includes its callees' (what a call costs, not only its own frames).
import fs from 'node:fs';
const args = process.argv.slice(2);
const w = args.indexOf('--window');
const windowName = w >= 0 ? args.splice(w, 2)[1] : undefined;
const inc = args.indexOf('--inclusive');
const inclusive = inc >= 0 && args.splice(inc, 1).length > 0;
const dir = args[0]; const top = Number(args[1] ?? 15);
const windows = windowName === undefined ? undefined : fs.readFileSync(`${dir}/windows.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.name.includes(windowName));
if (windows && !windows.length) throw new Error(`no workload named like ${windowName} in ${dir}/windows.jsonl`);
const inWindow = (t) => !windows || windows.some((x) => t >= x.startUs && t <= x.endUs);
const byRole = {};
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const p = JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
  const [, , , pid, tid] = f.split('.');
  if (tid !== '0') continue; // loader hook threads
  let role = 'other';
  try { role = fs.readFileSync(`${dir}/${pid}.role`, 'utf8').trim(); } catch {}
  const dt = (p.endTime - p.startTime) / 1000;
  const self = new Map(); const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map(); let t = p.startTime;
  p.samples.forEach((s, i) => { t += p.timeDeltas[i]; if (inWindow(t)) counts.set(s, (counts.get(s) ?? 0) + 1); });
  const interval = dt / p.samples.length;
  const keyOf = (n) => { const cf = n.callFrame; const url = (cf.url || '').replace(/^file:\/\/\/work\/main\//, '').replace(/.*node_modules\//, 'nm/'); return `${cf.functionName || '(anon)'} ${url}:${cf.lineNumber + 1}`; };
  for (const [id, c] of counts) {
    // Self time: the sampled frame. Inclusive: every distinct frame on its stack.
    const keys = new Set([keyOf(nodes.get(id))]);
    if (inclusive) for (let up = parent.get(id); up !== undefined; up = parent.get(up)) if (nodes.get(up).callFrame.functionName !== '(root)') keys.add(keyOf(nodes.get(up)));
    for (const key of keys) self.set(key, (self.get(key) ?? 0) + c * interval);
  }
  const r = (byRole[role] ??= { total: 0, fns: new Map(), files: 0 });
  r.files++;
  for (const [id, c] of counts) if (!keyOf(nodes.get(id)).startsWith('(idle)')) r.total += c * interval;
  for (const [k, v] of self) r.fns.set(k, (r.fns.get(k) ?? 0) + v);
}
for (const [role, r] of Object.entries(byRole)) {
  console.log(`\n## ${role} (${r.files} processes, ${(r.total / 1000).toFixed(1)} s busy)`);
  const rows = [...r.fns].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, v] of rows) console.log(`${(v / r.total * 100).toFixed(1).padStart(5)} %  ${(v / 1000).toFixed(2)} s  ${k}`);
}
