/**
 * An index over a FileDescriptorSet: each file's exact serialized bytes, its
 * dependencies, and which file defines each fully-qualified symbol. Server
 * reflection answers from it. Files are kept as the bytes protoc wrote
 * (dependency lists included), which is what strict clients need to build a
 * descriptor pool.
 */
import * as descriptor from 'protobufjs/ext/descriptor';
import { bytesFields } from './wire';

interface FileEntry {
  name: string;
  bytes: Buffer;
  dependencies: string[];
}

interface NamedNode {
  name?: string;
  nestedType?: NamedNode[];
  enumType?: NamedNode[];
  field?: Array<{ name?: string }>;
  method?: Array<{ name?: string }>;
}

interface DecodedFile {
  name?: string;
  package?: string;
  dependency?: string[];
  messageType?: NamedNode[];
  enumType?: NamedNode[];
  service?: NamedNode[];
  extension?: Array<{ name?: string; extendee?: string; number?: number }>;
}

export class DescriptorIndex {
  private readonly files = new Map<string, FileEntry>();
  private readonly symbols = new Map<string, string>();
  readonly services: string[] = [];

  /** @throws Error when `set` is not a serialized FileDescriptorSet. */
  constructor(set: Buffer) {
    for (const bytes of bytesFields(set, 1)) {
      const file = (descriptor.FileDescriptorProto as unknown as { decode(b: Uint8Array): DecodedFile }).decode(bytes);
      const name = file.name ?? '';
      this.files.set(name, { name, bytes, dependencies: file.dependency ?? [] });
      const pkg = file.package ? `${file.package}.` : '';
      for (const m of file.messageType ?? []) this.addMessage(pkg, m, name);
      for (const e of file.enumType ?? []) this.symbols.set(pkg + e.name, name);
      for (const s of file.service ?? []) {
        const full = pkg + s.name;
        this.symbols.set(full, name);
        this.services.push(full);
        for (const m of s.method ?? []) this.symbols.set(`${full}.${m.name}`, name);
      }
      for (const x of file.extension ?? []) this.symbols.set(pkg + x.name, name);
    }
  }

  private addMessage(prefix: string, m: NamedNode, file: string): void {
    const full = prefix + m.name;
    this.symbols.set(full, file);
    for (const f of m.field ?? []) this.symbols.set(`${full}.${f.name}`, file);
    for (const n of m.nestedType ?? []) this.addMessage(`${full}.`, n, file);
    for (const e of m.enumType ?? []) this.symbols.set(`${full}.${e.name}`, file);
  }

  fileContainingSymbol(symbol: string): string | undefined {
    const s = symbol.startsWith('.') ? symbol.slice(1) : symbol;
    return this.symbols.get(s);
  }

  hasFile(name: string): boolean {
    return this.files.has(name);
  }

  /** The file and every file it imports, transitively, dependencies first. */
  withDependencies(name: string): Buffer[] {
    const out: Buffer[] = [];
    const seen = new Set<string>();
    const visit = (n: string) => {
      if (seen.has(n)) return;
      seen.add(n);
      const f = this.files.get(n);
      if (!f) return;
      for (const d of f.dependencies) visit(d);
      out.push(f.bytes);
    };
    visit(name);
    return out;
  }
}

