/**
 * One client (one channel) per address, made on first use and closed
 * together: gRPC channels are meant to be long-lived and shared.
 */
export class ClientPool<C extends { close(): void }> {
  private readonly clients = new Map<string, C>();

  constructor(private readonly make: (address: string) => C) {}

  get(address: string): C {
    let c = this.clients.get(address);
    if (!c) {
      c = this.make(address);
      this.clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
