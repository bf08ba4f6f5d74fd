/**
 * JSON-lines logger. One object a line: time, level, msg, and the bound
 * fields (node id, role, component). Passed in, never global, so tests can
 * silence or capture it.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to stderr. */
  write?: (line: string) => void;
  fields?: LogFields;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (RANK[level] < min) return;
      const record: LogFields = { time: new Date().toISOString(), level, ...bound, msg };
      if (fields) {
        for (const [k, v] of Object.entries(fields)) record[k] = v instanceof Error ? describeError(v) : v;
      }
      write(redact(JSON.stringify(record)) + '\n');
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make(options.fields ?? {});
}

/**
 * Credentials never reach a log line: bearer tokens keep only their public
 * id (`bst_<id>_[redacted]`), and fields named like a credential are blanked.
 */
const TOKEN = /bst_([0-9a-f]{16})_[A-Za-z0-9_-]+/g;
const SECRET_FIELD = /"(authorization|token|secret|password|x-blockstore-cluster-auth|cluster[_-]?secret)":"(?:[^"\\]|\\.)*"/gi;

export function redact(line: string): string {
  return line.replace(TOKEN, 'bst_$1_[redacted]').replace(SECRET_FIELD, '"$1":"[redacted]"');
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ write: () => {} });

function describeError(err: Error): LogFields {
  const out: LogFields = { name: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (err.stack) out.stack = err.stack.split('\n').slice(0, 6).join('\n');
  // What an error wraps is often the actual fault (one level: causes can chain far).
  if (err.cause instanceof Error) out.cause = { name: err.cause.name, message: err.cause.message, stack: err.cause.stack?.split('\n').slice(0, 6).join('\n') };
  return out;
}
