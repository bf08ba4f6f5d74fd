/**
 * Minimal Prometheus text metrics: counters and a latency summary per
 * method and status, rendered on the side port's /metrics.
 */
export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();
  private readonly latencies = new Map<string, number[]>();

  constructor(private readonly labels: Record<string, string>) {}

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = this.key(name, labels);
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }

  gauge(name: string, read: () => number): void {
    this.gauges.set(this.key(name, {}), read);
  }

  observe(name: string, labels: Record<string, string>, ms: number): void {
    const key = this.key(name, labels);
    let xs = this.latencies.get(key);
    if (!xs) this.latencies.set(key, (xs = []));
    xs.push(ms);
    if (xs.length > 2048) xs.splice(0, 1024);
  }

  private key(name: string, labels: Record<string, string>): string {
    const all = { ...this.labels, ...labels };
    const l = Object.entries(all).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',');
    return `${name}{${l}}`;
  }

  render(): string {
    const lines: string[] = [];
    for (const [k, v] of this.counters) lines.push(`${k} ${v}`);
    for (const [k, read] of this.gauges) lines.push(`${k} ${read()}`);
    for (const [k, xs] of this.latencies) {
      const sorted = [...xs].sort((a, b) => a - b);
      const [name, rest] = [k.slice(0, k.indexOf('{')), k.slice(k.indexOf('{') + 1, -1)];
      for (const q of [0.5, 0.95, 0.99]) lines.push(`${name}{${rest},quantile="${q}"} ${(sorted[Math.floor((sorted.length - 1) * q)]! / 1000).toFixed(6)}`);
      lines.push(`${name}_count{${rest}} ${xs.length}`);
    }
    return `${lines.sort().join('\n')}\n`;
  }
}
