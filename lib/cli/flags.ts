/**
 * Flag handling shared by every subcommand: one table of flags per command,
 * each with its environment variable and default, from which both parsing
 * (node:util parseArgs) and --help are made. Flags win over environment.
 */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  name: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  type: 'string' | 'boolean';
  default?: string;
  /** Short value name for help, e.g. HOST:PORT. */
  value?: string;
  help: string;
  /** May be given several times (values are joined with commas). */
  multiple?: boolean;
  /** A one-letter alias, e.g. 'f' for -f. */
  short?: string;
}

export type FlagValues = Record<string, string | boolean | undefined>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * @throws UsageError for an unknown flag or a missing value.
 */
export function parseFlags(argv: string[], specs: FlagSpec[], env: NodeJS.ProcessEnv = process.env): { values: FlagValues; positionals: string[]; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const s of specs) options[s.name] = { type: s.type, ...(s.multiple ? { multiple: true } : {}), ...(s.short ? { short: s.short } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values: FlagValues = {};
  for (const s of specs) {
    const raw = (parsed.values as Record<string, unknown>)[s.name];
    let v: string | boolean | undefined = Array.isArray(raw) ? raw.join(',') : (raw as string | boolean | undefined);
    if (v === undefined && s.env && env[s.env] !== undefined) {
      const e = env[s.env]!;
      v = s.type === 'boolean' ? e === '1' || e.toLowerCase() === 'true' : e;
    }
    if (v === undefined && s.default !== undefined) v = s.type === 'boolean' ? s.default === 'true' : s.default;
    values[s.name] = v;
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

export function helpText(usage: string, summary: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${s.name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`;
    const extra = [s.env ? `env ${s.env}` : '', s.default !== undefined ? `default ${s.default}` : ''].filter(Boolean).join('; ');
    return `${left.padEnd(34)} ${s.help}${extra ? ` (${extra})` : ''}`;
  });
  return `usage: ${usage}\n\n${summary}\n\nflags:\n${rows.join('\n')}\n  -h, --help                         this text\n`;
}
