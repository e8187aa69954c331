/**
 * Structured logs: one JSON object per line on stdout, every line carrying the process's
 * bindings (node id, shard, role) through child loggers. On a terminal the same events are
 * printed as short human-readable lines instead.
 *
 * The lines are pino's (level numbers 10-60, ISO `time`, `pid`, the bindings, the event's
 * fields, `msg`), so log tooling written for pino reads them; pino itself is not used: loading
 * it was ~40 ms of CPU at every start of every node and router (node/DESIGN.md, "How the process
 * runs"), and what we use of it is a few lines. Writes are synchronous, one write per line.
 */

export type LevelWithSilent = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

type LogMethod = {
  (fields: Readonly<Record<string, unknown>>, msg?: string): void;
  (msg: string): void;
};

export interface Logger {
  trace: LogMethod;
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  /** A logger whose lines also carry `bindings`. */
  child(bindings: Readonly<Record<string, unknown>>): Logger;
}

export const LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const LEVEL_VALUES: Readonly<Record<LevelWithSilent, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY };

export interface LoggerOptions {
  /** Default 'info'. */
  readonly level?: LevelWithSilent;
  /** Fields on every line, e.g. { node, shard }. */
  readonly bindings?: Readonly<Record<string, string>>;
  /** Human-readable lines instead of JSON. Default: stdout is a TTY. */
  readonly pretty?: boolean;
  /** Where lines go. Default process.stdout. */
  readonly write?: (line: string) => void;
}

export function isLogLevel(text: string): text is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const write = o.write ?? ((line: string) => void process.stdout.write(line));
  const pretty = o.pretty ?? process.stdout.isTTY === true;
  const sink = pretty ? (line: string) => write(formatLine(line)) : write;
  const threshold = LEVEL_VALUES[o.level ?? 'info'];
  // `{"pid":1,"role":"node"` and so on: rendered once per logger, not per line.
  return makeLogger(sink, threshold, fieldsJson({ pid: process.pid, ...o.bindings }));
}

function makeLogger(sink: (line: string) => void, threshold: number, bound: string): Logger {
  const method = (level: number): LogMethod => {
    if (level < threshold) return () => {};
    return (first: Readonly<Record<string, unknown>> | string, msg?: string): void => {
      const fields = typeof first === 'string' ? '' : fieldsJson(first);
      const text = typeof first === 'string' ? first : msg;
      const head = `{"level":${level},"time":"${new Date().toISOString()}"`;
      sink(`${head}${bound}${fields}${text === undefined ? '' : `,"msg":${JSON.stringify(text)}`}}\n`);
    };
  };
  return {
    trace: method(10), debug: method(20), info: method(30), warn: method(40), error: method(50), fatal: method(60),
    child: (bindings) => makeLogger(sink, threshold, bound + fieldsJson(bindings)),
  };
}

/**
 * `,"k":v` for each field. An Error as its type, message and stack (JSON.stringify gives {}), a
 * bigint as its digits; a value that cannot be written (a cycle) as its String(): a log call
 * never throws.
 */
function fieldsJson(fields: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out += `,${JSON.stringify(k)}:${valueJson(v)}`;
  }
  return out;
}

function valueJson(v: unknown): string {
  const value = v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;
  try {
    return JSON.stringify(value, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return JSON.stringify(String(value));
  }
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Readonly<Record<number, string>> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'node', 'shard', 'role']);

/** One JSON log line as `12:00:00.123 INFO  [router s1 n7f3a] message key=value`. */
export function formatLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = typeof o.level === 'number' ? o.level : 30;
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : '';
  const who = [o.role, o.shard !== undefined ? `s${String(o.shard)}` : undefined, o.node].filter((x) => x !== undefined).join(' ');
  const rest = Object.entries(o).filter(([k]) => !HIDDEN.has(k)).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const color = COLORS[level] ?? '';
  const text = `${time} ${color}${LEVEL_NAMES[level] ?? level}${color ? '\x1b[0m' : ''} ${who ? `[${who}] ` : ''}${String(o.msg ?? '')}${rest.length ? ' ' + rest.join(' ') : ''}`;
  return text + '\n';
}

/**
 * Adapts a `(line) => void` logging hook (what node/replication and router take) to a logger,
 * choosing the level from the text: failures are errors, refusals and slowness are warnings.
 */
export function lineLogger(logger: Logger): (line: string) => void {
  return (line) => {
    if (/^FATAL|failed|error/i.test(line)) logger.error(line);
    else if (/refus|reject|dropping|unreachable|slow|timed out|removed/i.test(line)) logger.warn(line);
    else logger.info(line);
  };
}
