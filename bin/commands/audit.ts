/**
 * `seqdb audit BUCKET SEQUENCE [--from N] [--to N] [--csv]`: exports a series' audit trail
 * (issue 12), paging through AUDIT FROM/TO in AUDIT_RANGE_MAX steps. --csv writes RFC 4180 CSV
 * (header row, CRLF line ends) for accountants' tools; otherwise one tab-separated line per number.
 */
import { parseArgs } from 'node:util';
import { createClient, type Reply } from '../../client/index.ts';
import { CLIENT_SECURITY_USAGE, DATA_CLIENT_SECURITY_FLAGS, clientAuthFromFlags } from '../../shared/security/client-security.ts';
import { describeError, Exit, exitCodeFor, routersFrom } from '../../client/cli/common.ts';
import { AUDIT_RANGE_MAX } from '../../node/state-machine/series-command.ts';
import type { Subcommand } from '../cli.ts';

const USAGE = `Usage: seqdb audit BUCKET SEQUENCE [--from N] [--to N] [--csv] [--router H:P]... [--timeout MS]

Prints, for every number FROM..TO of a series, its state (used, void, reserved, inc = plain INC,
pre = before the series began, pruned = removed under SEQ.RETAIN), time, reference and reason.
--from defaults to 1, --to to the sequence's current value. --csv: CSV with a header row.
Exit codes: 0 ok; 1 server error; 2 usage; 3 no answer before the deadline (--timeout MS per page).
Routers: --router H:P (repeatable or comma-separated), else $SEQDB_ROUTERS, else 127.0.0.1:7379.
${CLIENT_SECURITY_USAGE}`;

const FLAGS = {
  ...DATA_CLIENT_SECURITY_FLAGS,
  from: { type: 'string' },
  to: { type: 'string' },
  csv: { type: 'boolean' },
  router: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COLUMNS = ['number', 'state', 'time_ms', 'time', 'reference', 'reason', 'expires_ms'];
const DECIMAL = /^[1-9][0-9]{0,18}$/;

export const audit: Subcommand = {
  name: 'audit',
  summary: 'export the audit trail of a gapless series (--csv)',
  async run(argv) {
    let parsed;
    try {
      parsed = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: true });
    } catch (error) {
      return usage((error as Error).message.split('\n')[0]!);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      console.log(USAGE);
      return Exit.OK;
    }
    if (positionals.length !== 2) return usage(`expected BUCKET SEQUENCE, got ${positionals.length} arguments`);
    for (const flag of ['from', 'to'] as const) {
      if (values[flag] !== undefined && !DECIMAL.test(values[flag])) return usage(`--${flag} must be a positive integer`);
    }
    if (values.timeout !== undefined && !/^[1-9]\d{0,6}$/.test(values.timeout)) return usage('--timeout must be a positive integer (ms)');
    let client;
    try {
      client = createClient({ routers: routersFrom(values.router), ...(values.timeout ? { deadlineMs: Number(values.timeout) } : {}), ...clientAuthFromFlags(values) });
    } catch (error) {
      return usage(describeError(error));
    }
    const [bucket, sequence] = positionals as [string, string];
    try {
      const from = BigInt(values.from ?? '1');
      const to = values.to !== undefined ? BigInt(values.to) : await currentValue(client, bucket, sequence);
      const format = values.csv ? csvLine : (cells: string[]) => `${cells.join('\t')}\n`;
      // A reader that stops early (`| head`) closes the pipe: stop quietly, as cat and grep do.
      process.stdout.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') throw error;
      });
      if (values.csv) await write(csvLine(COLUMNS));
      for (let start = from; start <= to; start += BigInt(AUDIT_RANGE_MAX)) {
        const end = start + BigInt(AUDIT_RANGE_MAX) - 1n < to ? start + BigInt(AUDIT_RANGE_MAX) - 1n : to;
        const reply = await client.sendCommand(['AUDIT', bucket, sequence, 'FROM', String(start), 'TO', String(end)], { idempotent: true });
        const out = items(reply).map((row) => format(cells(items(row), values.csv === true)));
        if (out.length > 0) await write(out.join(''));
        if (out.length < Number(end - start + 1n)) break; // past the sequence's value
      }
      return Exit.OK;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') return Exit.OK;
      console.error(`seqdb audit: ${describeError(error)}`);
      return exitCodeFor(error);
    } finally {
      client.destroy();
    }
  },
};

async function currentValue(client: ReturnType<typeof createClient>, bucket: string, sequence: string): Promise<bigint> {
  const reply = await client.sendCommand(['GET', bucket, sequence], { readOnly: true });
  return reply.kind === 'integer' ? reply.value : 0n;
}

function items(reply: Reply): Reply[] {
  if (reply.kind === 'error') throw new Error(`${reply.word} ${reply.message}`);
  if (reply.kind !== 'array') throw new Error(`unexpected reply ${reply.kind}`);
  return reply.items;
}

/**
 * [number, state, time_ms, ref, reason, expires_ms] -> the printed columns. REF and REASON are any
 * bytes: tab-separated output escapes them (`tsvField`), CSV quotes them (a tab or newline inside
 * spilled one number's row over several lines, and bytes that are not UTF-8 became U+FFFD; a
 * series review).
 */
function cells(row: Reply[], csv: boolean): string[] {
  const text = (r: Reply | undefined): string =>
    r === undefined || r.kind === 'null' ? '' : r.kind === 'integer' ? String(r.value) : r.kind === 'string' ? (csv ? csvText(r.value) : tsvField(r.value)) : '';
  const timeMs = text(row[2]);
  const iso = timeMs === '' ? '' : new Date(Number(timeMs)).toISOString();
  return [text(row[0]), text(row[1]), timeMs, iso, text(row[3]), text(row[4]), text(row[5])];
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Tab-separated text without loss, as PostgreSQL's COPY text format: backslash, tab, LF and CR
 * as `\\`, `\t`, `\n`, `\r`; bytes that are not UTF-8 as `\xHH`.
 */
export function tsvField(bytes: Buffer): string {
  return escapeInvalid(bytes, (text) => text.replace(/[\\\t\n\r]/g, (c) => TSV_ESCAPES[c]!));
}

const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** CSV text: UTF-8 as it is (csvLine quotes it); text that is not UTF-8 with `\xHH` for its bad bytes. */
function csvText(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    return escapeInvalid(bytes, (text) => text.replace(/\\/g, '\\\\'));
  }
}

/** Valid UTF-8 runs through `plain`; each byte of an invalid sequence as `\xHH`. */
function escapeInvalid(bytes: Buffer, plain: (text: string) => string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < bytes.length;) {
    const n = utf8Length(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += plain(bytes.subarray(start, i).toString('utf8')) + `\\x${bytes[i]!.toString(16).padStart(2, '0')}`;
    start = ++i;
  }
  return out + plain(bytes.subarray(start).toString('utf8'));
}

/** The length of the valid UTF-8 character at `i`, or 0. */
function utf8Length(bytes: Buffer, i: number): number {
  const b = bytes[i]!;
  const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
  if (n <= 1 || i + n > bytes.length) return n === 1 ? 1 : 0;
  try {
    UTF8.decode(bytes.subarray(i, i + n));
    return n;
  } catch {
    return 0;
  }
}

/** RFC 4180: quote fields with comma, quote, CR or LF; double inner quotes; CRLF line end. */
export function csvLine(fields: readonly string[]): string {
  return `${fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(',')}\r\n`;
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}

function usage(reason: string): number {
  console.error(`seqdb audit: ${reason}\n${USAGE.split('\n')[0]}`);
  return Exit.USAGE;
}

export default audit;
