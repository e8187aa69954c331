/**
 * Structured logs: pino, one JSON object per line on stdout, every line carrying the process's
 * bindings (node id, shard, role) through child loggers. On a terminal the same events are
 * printed as short human-readable lines instead (a tiny formatter: no pino-pretty here).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

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
  const stream = { write: pretty ? (line: string) => write(formatLine(line)) : write };
  return pino({ level: o.level ?? 'info', base: { pid: process.pid, ...o.bindings }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Readonly<Record<number, string>> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31m' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'node', 'shard', 'role']);

/** One pino JSON line as `12:00:00.123 INFO  [router s1 n7f3a] message key=value`. */
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
