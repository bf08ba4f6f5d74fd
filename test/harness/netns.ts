/**
 * Test hosts in Linux network namespaces: each namespace has its own
 * address on a bridge the test creates (and removes), so nodes reach each
 * other over a real network path rather than loopback.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface NetHost {
  ns: string;
  ip: string;
}

export class TestNetwork {
  readonly hosts: NetHost[] = [];
  readonly bridge: string;
  readonly subnet: string;
  private readonly tag = randomBytes(3).toString('hex');
  private created: string[] = [];

  constructor(count: number) {
    const n = 100 + Math.floor(Math.random() * 150);
    this.subnet = `10.231.${n}`;
    this.bridge = `bsbr${this.tag}`;
    for (let i = 0; i < count; i++) this.hosts.push({ ns: `bs${this.tag}-${i}`, ip: `${this.subnet}.${11 + i}` });
  }

  private ip(...args: string[]): void {
    execFileSync('ip', args, { stdio: 'pipe' });
  }

  /** @throws Error when namespaces cannot be made (not root, no iproute2). */
  up(): void {
    this.ip('link', 'add', this.bridge, 'type', 'bridge');
    this.created.push(`link:${this.bridge}`);
    this.ip('addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge);
    this.ip('link', 'set', this.bridge, 'up');
    this.hosts.forEach((h, i) => {
      this.ip('netns', 'add', h.ns);
      this.created.push(`ns:${h.ns}`);
      const outer = `v${this.tag}${i}`;
      this.ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
      this.created.push(`link:${outer}`);
      this.ip('link', 'set', outer, 'master', this.bridge);
      this.ip('link', 'set', outer, 'up');
      this.ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
      this.ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
      this.ip('-n', h.ns, 'link', 'set', 'lo', 'up');
    });
  }

  /** Removes everything it made (namespaces take their veth ends along). */
  down(): void {
    for (const item of this.created.reverse()) {
      const [kind, name] = item.split(':') as [string, string];
      try {
        if (kind === 'ns') this.ip('netns', 'del', name);
        else this.ip('link', 'del', name);
      } catch {
        /* already gone */
      }
    }
    this.created = [];
  }
}
