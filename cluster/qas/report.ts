/**
 * The QAS report: Markdown (a table and a verdict per scenario), JSON, one
 * SVG plot per scenario (successful calls/s and p99 latency per second, with
 * the faults marked), and the raw history as JSON lines.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallRecord } from './history';
import type { ScenarioResult } from './scenarios';

function markdownTable(rows: Array<Record<string, string | number>>): string {
  if (!rows.length) return '_no data_\n';
  const cols = Object.keys(rows[0]!);
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => String(r[c])).join(' | ')} |`)].join('\n') + '\n';
}

export function markdown(results: ScenarioResult[], context: string): string {
  const parts = [`# blockstore quality scenarios\n\n${context}\n`];
  for (const r of results) {
    parts.push(`## ${r.id}: ${r.title}\n\n**${r.verdict}**\n`);
    parts.push(markdownTable(r.table));
    parts.push(`\nMeasures: ${Object.entries(r.measures).map(([k, v]) => `${k} = ${v}`).join('; ')}\n`);
    if (r.events.length) parts.push(`\nEvents:\n${r.events.map((e) => `- +${((e.t - r.startedAt) / 1000).toFixed(1)} s: ${e.what}`).join('\n')}\n`);
    parts.push(`\n![${r.id}](${r.id}.svg)\n`);
  }
  return parts.join('\n');
}

/** Calls/s and p99 per second over the scenario, faults as vertical lines. */
export function svg(r: ScenarioResult): string {
  const W = 900;
  const H = 300;
  const pad = 40;
  const h = r.history;
  const end = Math.max(r.startedAt + 1000, ...h.map((x) => x.end));
  const secs = Math.ceil((end - r.startedAt) / 1000);
  const okPerSec = new Array<number>(secs).fill(0);
  const lat: number[][] = Array.from({ length: secs }, () => []);
  for (const x of h) {
    const i = Math.min(secs - 1, Math.floor((x.end - r.startedAt) / 1000));
    if (x.status === 'OK') okPerSec[i]!++;
    lat[i]!.push(x.end - x.start);
  }
  const p99 = lat.map((xs) => (xs.length ? xs.sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]! : 0));
  const maxRate = Math.max(1, ...okPerSec);
  const maxLat = Math.max(1, ...p99);
  const X = (i: number) => pad + (i / Math.max(1, secs - 1)) * (W - 2 * pad);
  const line = (ys: number[], max: number) => ys.map((y, i) => `${i ? 'L' : 'M'}${X(i).toFixed(1)},${(H - pad - (y / max) * (H - 2 * pad)).toFixed(1)}`).join(' ');
  const marks = r.events
    .map((e) => {
      const x = X((e.t - r.startedAt) / 1000);
      return `<line x1="${x}" y1="${pad}" x2="${x}" y2="${H - pad}" stroke="#c00" stroke-dasharray="4"/><text x="${x + 3}" y="${pad + 12}" font-size="10" fill="#c00">${e.what.replace(/[<&]/g, '')}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${pad}" y="20" font-size="13">${r.id}: successful calls/s (blue, max ${maxRate}) and p99 latency (orange, max ${maxLat} ms) per second</text>
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#888"/>
<path d="${line(okPerSec, maxRate)}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
<path d="${line(p99, maxLat)}" fill="none" stroke="#ff7f0e" stroke-width="1.5"/>
${marks}
<text x="${pad}" y="${H - 10}" font-size="11">0 s</text><text x="${W - pad - 20}" y="${H - 10}" font-size="11">${secs} s</text>
</svg>
`;
}

export function writeReport(dir: string, results: ScenarioResult[], context: string, jsonFile?: string): void {
  writeFileSync(join(dir, 'qas-report.md'), markdown(results, context));
  const json = results.map((r) => ({ id: r.id, title: r.title, pass: r.pass, verdict: r.verdict, measures: r.measures, table: r.table, events: r.events }));
  writeFileSync(jsonFile ?? join(dir, 'qas-report.json'), `${JSON.stringify(json, null, 2)}\n`);
  for (const r of results) {
    writeFileSync(join(dir, `${r.id}.svg`), svg(r));
    writeFileSync(join(dir, `${r.id}-history.jsonl`), r.history.map((x: CallRecord) => JSON.stringify(x)).join('\n') + '\n');
  }
}
