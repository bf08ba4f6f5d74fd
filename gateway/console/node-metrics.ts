/**
 * The few series the console charts, read from every node's Prometheus
 * /metrics (its HTTP side port): CPU seconds and resident memory of the
 * process, gRPC calls by method and status, and the call-latency
 * histogram's buckets summed over methods. The page turns two samples into
 * rates and percentiles.
 */
export interface NodeSample {
  id: string;
  kind: string;
  /** false when /metrics did not answer in time. */
  ok: boolean;
  cpuSeconds: number;
  rssBytes: number;
  /** "Method status" → calls. */
  calls: Record<string, number>;
  /** Upper bound in seconds ("+Inf" last) → calls at most that slow, over every method. */
  buckets: Record<string, number>;
}

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** The series above from one Prometheus text exposition. */
export function parseSample(id: string, kind: string, text: string): NodeSample {
  const s: NodeSample = { id, kind, ok: true, cpuSeconds: 0, rssBytes: 0, calls: {}, buckets: {} };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const [, name, rawLabels = '', rawValue] = m;
    const value = Number(rawValue);
    if (!Number.isFinite(value) && rawValue !== '+Inf') continue;
    if (name === 'process_cpu_seconds_total') s.cpuSeconds = value;
    else if (name === 'process_resident_memory_bytes') s.rssBytes = value;
    else if (name === 'blockstore_rpc_requests_total' || name === 'blockstore_rpc_latency_seconds_bucket') {
      const labels: Record<string, string> = {};
      for (const l of rawLabels.matchAll(LABEL)) labels[l[1]!] = l[2]!;
      if (name === 'blockstore_rpc_requests_total') {
        const key = `${labels.method ?? '?'} ${labels.status ?? '?'}`;
        s.calls[key] = (s.calls[key] ?? 0) + value;
      } else if (labels.le !== undefined) {
        s.buckets[labels.le] = (s.buckets[labels.le] ?? 0) + value;
      }
    }
  }
  return s;
}

/** Every node's sample, fetched in parallel with a deadline (a node that does not answer: ok false). */
export async function sampleNodes(nodes: Array<{ id: string; kind: string; httpAddress: string }>, timeoutMs = 1000): Promise<NodeSample[]> {
  return Promise.all(
    nodes.map(async (n) => {
      try {
        if (!n.httpAddress) throw new Error('no side port');
        const r = await fetch(`http://${n.httpAddress}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
        return parseSample(n.id, n.kind, await r.text());
      } catch {
        return { id: n.id, kind: n.kind, ok: false, cpuSeconds: 0, rssBytes: 0, calls: {}, buckets: {} };
      }
    }),
  );
}
