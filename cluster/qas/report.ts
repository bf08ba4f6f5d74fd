/**
 * The QAS report: Markdown (a table and a verdict per scenario), JSON, one
 * SVG plot per scenario (offered, achieved and failed calls/s, and p99
 * latency per second, each on its own labelled axis, with the faults
 * marked), and the raw history as JSON lines.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallRecord } from './history';
import type { ScenarioResult } from './scenarios';

export function markdownTable(rows: Array<Record<string, string | number>>): string {
  if (!rows.length) return '_no data_\n';
  const cols = Object.keys(rows[0]!);
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => String(r[c])).join(' | ')} |`)].join('\n') + '\n';
}

export function markdown(results: ScenarioResult[], context: string): string {
  const parts = [`# blockstore quality scenarios\n\n${context}\n`];
  for (const r of results) {
    parts.push(`## ${r.id}: ${r.title}\n\n**${r.verdict}**\n`);
    parts.push(markdownTable(r.table));
    if (r.extra) parts.push(`\n${r.extra}\n`);
    parts.push(`\nMeasures: ${Object.entries(r.measures).map(([k, v]) => `${k} = ${v}`).join('; ')}\n`);
    if (r.events.length) parts.push(`\nEvents:\n${r.events.map((e) => `- +${((e.t - r.startedAt) / 1000).toFixed(1)} s: ${e.what}`).join('\n')}\n`);
    parts.push(`\n![${r.id}](${r.id}.svg)\n`);
  }
  return parts.join('\n');
}

/** Round tick values from 0 to at least `max` (about five of them). */
function ticks(max: number): number[] {
  const raw = Math.max(max, 1) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

const esc = (t: string) => t.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

/**
 * Two panels over the scenario's seconds, each with its own labelled axis:
 * calls/s (offered, achieved, failed or shed) and p99 latency in ms; faults
 * and scale-out as dashed vertical lines across both.
 */
export function svg(r: ScenarioResult): string {
  const W = 960;
  const left = 70;
  const right = 20;
  const top = 60;
  const panelH = 170;
  const gap = 60;
  const H = top + panelH * 2 + gap + 50;
  const h = r.history;
  const origin = r.plotFrom ?? r.startedAt;
  const end = Math.max(origin + 1000, ...h.map((x) => x.end));
  const secs = Math.max(2, Math.ceil((end - origin) / 1000));
  const slot = (t: number) => Math.max(0, Math.min(secs - 1, Math.floor((t - origin) / 1000)));
  const offered = new Array<number>(secs).fill(0);
  const achieved = new Array<number>(secs).fill(0);
  const bad = new Array<number>(secs).fill(0);
  const lat: number[][] = Array.from({ length: secs }, () => []);
  for (const x of h) {
    offered[slot(x.start)]!++;
    if (x.status === 'OK') achieved[slot(x.end)]!++;
    else bad[slot(x.end)]!++;
    lat[slot(x.end)]!.push(x.end - x.start);
  }
  for (const t of r.shedAt ?? []) {
    offered[slot(t)]!++;
    bad[slot(t)]!++;
  }
  const p99 = lat.map((xs) => (xs.length ? xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]! : 0));
  const X = (t: number) => left + (t / secs) * (W - left - right);
  const panel = (y0: number, title: string, unit: string, series: Array<{ ys: number[]; color: string; name: string; dash?: string }>) => {
    const ts = ticks(Math.max(1, ...series.flatMap((s) => s.ys)));
    const max = ts[ts.length - 1]!;
    const Y = (v: number) => y0 + panelH - (v / max) * panelH;
    const grid = ts.map((v) => `<line x1="${left}" y1="${Y(v)}" x2="${W - right}" y2="${Y(v)}" stroke="#eee"/><text x="${left - 6}" y="${Y(v) + 4}" font-size="11" text-anchor="end">${v}</text>`).join('');
    const lines = series.map((s) => `<path d="${s.ys.map((v, i) => `${i ? 'L' : 'M'}${X(i + 0.5).toFixed(1)},${Y(v).toFixed(1)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`).join('');
    const legend = series.map((s, i) => `<line x1="${left + 10 + i * 170}" y1="${y0 - 8}" x2="${left + 34 + i * 170}" y2="${y0 - 8}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/><text x="${left + 40 + i * 170}" y="${y0 - 4}" font-size="11">${esc(s.name)}</text>`).join('');
    const axis = `<line x1="${left}" y1="${y0}" x2="${left}" y2="${y0 + panelH}" stroke="#444"/><line x1="${left}" y1="${y0 + panelH}" x2="${W - right}" y2="${y0 + panelH}" stroke="#444"/>`;
    const label = `<text transform="translate(16 ${y0 + panelH / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(`${title} (${unit})`)}</text>`;
    return grid + axis + lines + legend + label;
  };
  const xt = ticks(secs).filter((v) => v <= secs);
  const xAxis = xt.map((v) => `<line x1="${X(v)}" y1="${H - 50}" x2="${X(v)}" y2="${H - 45}" stroke="#444"/><text x="${X(v)}" y="${H - 32}" font-size="11" text-anchor="middle">${v}</text>`).join('');
  const marks = r.events
    .filter((e) => e.t >= origin && e.t <= end)
    .map((e, i) => {
      const x = X((e.t - origin) / 1000);
      // Labels near the right edge run leftwards from their line.
      const anchor = x > W * 0.6 ? `x="${x - 3}" text-anchor="end"` : `x="${x + 3}"`;
      return `<line x1="${x}" y1="${top - 10}" x2="${x}" y2="${H - 50}" stroke="#c00" stroke-dasharray="4"/><text ${anchor} y="${top + panelH + 18 + (i % 3) * 12}" font-size="10" fill="#c00">${esc(e.what)}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${left}" y="20" font-size="14">${esc(`${r.id}: ${r.title}`)}</text>
${panel(top, 'calls per second', 'calls/s', [
    { ys: offered, color: '#888', name: 'offered', dash: '5 3' },
    { ys: achieved, color: '#1f77b4', name: 'achieved (succeeded)' },
    { ys: bad, color: '#d62728', name: 'failed or shed' },
  ])}
${panel(top + panelH + gap, 'p99 latency', 'ms', [{ ys: p99, color: '#ff7f0e', name: 'p99 latency per second' }])}
${xAxis}
<text x="${(left + W - right) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">${r.plotFrom ? 'time since the plotted part began (s)' : 'time since the scenario started (s)'}</text>
${marks}
</svg>
`;
}

export function writeReport(dir: string, results: ScenarioResult[], context: string, jsonFile?: string): void {
  writeFileSync(join(dir, 'qas-report.md'), markdown(results, context));
  const json = results.map((r) => ({ id: r.id, title: r.title, pass: r.pass, verdict: r.verdict, measures: r.measures, table: r.table, events: r.events }));
  // Always beside the Markdown (the web console reads it there), and where --json asks.
  writeFileSync(join(dir, 'qas-report.json'), `${JSON.stringify(json, null, 2)}\n`);
  if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`);
  for (const r of results) {
    writeFileSync(join(dir, `${r.id}.svg`), svg(r));
    writeFileSync(join(dir, `${r.id}-history.jsonl`), r.history.map((x: CallRecord) => JSON.stringify(x)).join('\n') + '\n');
  }
}
