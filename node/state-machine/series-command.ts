/**
 * The gapless-series commands (issue 12): their types, their parsing from client arguments and
 * their log encoding. Hooked into command.ts's union, parse.ts and codec.ts; applied by
 * series.ts (writes) and audit.ts (AUDIT, SEQ.INFO, SEQ.LIST). Every one of them goes through
 * the log, so each sees the reservations that are due expired by its own committed time.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { SEQUENCE_VALUE_MAX, TOKEN_BYTES_MAX, NAME_BYTES_MAX } from './command.ts';

/** RESERVE ... TTL seconds accepts 1..RESERVE_TTL_SECONDS_MAX (one year). */
export const RESERVE_TTL_SECONDS_MAX = 365 * 24 * 3600;
/** REF and REASON texts are 1..SERIES_TEXT_BYTES_MAX bytes. */
export const SERIES_TEXT_BYTES_MAX = 256;
/** AUDIT covers at most this many numbers per call (page with FROM/TO). */
export const AUDIT_RANGE_MAX = 10_000;
/** SEQ.LIST returns at most this many names per page (default SEQ_LIST_COUNT_DEFAULT). */
export const SEQ_LIST_COUNT_MAX = 1000;
export const SEQ_LIST_COUNT_DEFAULT = 100;

interface OnSequence {
  readonly bucket: Buffer;
  readonly sequence: Buffer;
}

export interface ReserveCommand extends OnSequence {
  readonly type: 'reserve';
  readonly ttlSeconds: number;
  readonly ref?: Buffer;
  readonly token?: Buffer;
}
export interface ConfirmCommand extends OnSequence {
  readonly type: 'confirm';
  readonly number: bigint;
  readonly ref?: Buffer;
}
export interface VoidCommand extends OnSequence {
  readonly type: 'void';
  readonly number: bigint;
  readonly reason: Buffer;
}
export interface AuditCommand extends OnSequence {
  readonly type: 'audit';
  readonly from: bigint;
  readonly to: bigint;
}
export interface SeqInfoCommand extends OnSequence {
  readonly type: 'seq.info';
}
/** Keep the audit records of the newest `numbers` numbers only (0: keep all). */
export interface SeqRetainCommand extends OnSequence {
  readonly type: 'seq.retain';
  readonly numbers: bigint;
}
export interface SeqListCommand {
  readonly type: 'seq.list';
  readonly bucket: Buffer;
  /** The last name of the previous page; empty for the first page. */
  readonly after: Buffer;
  readonly count: number;
}

export type SeriesCommand =
  | ReserveCommand
  | ConfirmCommand
  | VoidCommand
  | AuditCommand
  | SeqInfoCommand
  | SeqRetainCommand
  | SeqListCommand;

const TYPES = ['reserve', 'confirm', 'void', 'audit', 'seq.info', 'seq.retain', 'seq.list'] as const;

/** Lower-case command names, for the server's table. */
export const SERIES_COMMAND_NAMES: readonly string[] = TYPES;

export function isSeriesCommand(command: { readonly type: string }): command is SeriesCommand {
  return (TYPES as readonly string[]).includes(command.type);
}

// ---------------------------------------------------------------- parsing

const DECIMAL = /^(?:0|[1-9][0-9]{0,18})$/;

function integer(arg: Buffer | undefined, min: bigint, max: bigint): bigint {
  const text = arg?.toString('latin1') ?? '';
  if (!DECIMAL.test(text)) throw new SeqError(ErrorCode.NOT_INTEGER, 'value is not an integer or out of range');
  const value = BigInt(text);
  if (value < min || value > max) throw new SeqError(ErrorCode.NOT_INTEGER, 'value is not an integer or out of range');
  return value;
}

function nameArg(arg: Buffer, what: string): Buffer {
  if (arg.length === 0 || arg.length > NAME_BYTES_MAX) {
    throw new SeqError(ErrorCode.NAME_TOO_LONG, `${what} name must be 1 to ${NAME_BYTES_MAX} bytes`);
  }
  return arg;
}

function text(arg: Buffer, what: string, bytesMax: number): Buffer {
  if (arg.length === 0 || arg.length > bytesMax) {
    throw new SeqError(ErrorCode.SYNTAX, `syntax error: ${what} must be 1 to ${bytesMax} bytes`);
  }
  return arg;
}

const arity = (name: string): SeqError => new SeqError(ErrorCode.WRONG_ARITY, `wrong number of arguments for '${name}'`);
const syntax = (): SeqError => new SeqError(ErrorCode.SYNTAX, 'syntax error');

/** `KEY value` pairs from args[from], each key at most once; keys are lower-cased. */
function options(args: readonly Buffer[], from: number, allowed: readonly string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = from; i < args.length; i += 2) {
    const key = args[i]!.toString('latin1').toLowerCase();
    const value = args[i + 1];
    if (value === undefined || !allowed.includes(key) || out.has(key)) throw syntax();
    out.set(key, value);
  }
  return out;
}

/** A series command for lower-case `name`, or undefined when `name` is not one. Throws SeqError. */
export function parseSeriesCommand(name: string, args: readonly Buffer[]): SeriesCommand | undefined {
  if (!(TYPES as readonly string[]).includes(name)) return undefined;
  if (name === 'seq.list') return parseSeqList(args);
  if (args.length < 3) throw arity(name);
  const on = { bucket: nameArg(args[1]!, 'bucket'), sequence: nameArg(args[2]!, 'sequence') };
  switch (name) {
    case 'reserve': {
      const o = options(args, 3, ['ttl', 'ref', 'id']);
      if (!o.has('ttl')) throw new SeqError(ErrorCode.SYNTAX, 'syntax error: RESERVE needs TTL seconds');
      const ttlSeconds = Number(integer(o.get('ttl'), 1n, BigInt(RESERVE_TTL_SECONDS_MAX)));
      const ref = o.get('ref');
      const token = o.get('id');
      return {
        type: 'reserve',
        ...on,
        ttlSeconds,
        ...(ref !== undefined ? { ref: text(ref, 'REF', SERIES_TEXT_BYTES_MAX) } : {}),
        ...(token !== undefined ? { token: text(token, 'ID token', TOKEN_BYTES_MAX) } : {}),
      };
    }
    case 'confirm': {
      if (args.length < 4) throw arity(name);
      const number = integer(args[3], 1n, SEQUENCE_VALUE_MAX);
      const ref = options(args, 4, ['ref']).get('ref');
      return { type: 'confirm', ...on, number, ...(ref !== undefined ? { ref: text(ref, 'REF', SERIES_TEXT_BYTES_MAX) } : {}) };
    }
    case 'void': {
      if (args.length < 4) throw arity(name);
      const number = integer(args[3], 1n, SEQUENCE_VALUE_MAX);
      const reason = options(args, 4, ['reason']).get('reason');
      if (reason === undefined) throw new SeqError(ErrorCode.SYNTAX, 'syntax error: VOID needs REASON text');
      return { type: 'void', ...on, number, reason: text(reason, 'REASON', SERIES_TEXT_BYTES_MAX) };
    }
    case 'audit': {
      if (args.length !== 7) throw arity(name);
      const o = options(args, 3, ['from', 'to']);
      const from = integer(o.get('from'), 1n, SEQUENCE_VALUE_MAX);
      const to = integer(o.get('to'), 1n, SEQUENCE_VALUE_MAX);
      if (to < from || to - from >= BigInt(AUDIT_RANGE_MAX)) {
        throw new SeqError(ErrorCode.SYNTAX, `syntax error: AUDIT needs FROM <= TO and at most ${AUDIT_RANGE_MAX} numbers`);
      }
      return { type: 'audit', ...on, from, to };
    }
    case 'seq.info':
      if (args.length !== 3) throw arity(name);
      return { type: 'seq.info', ...on };
    default: {
      if (args.length !== 4) throw arity(name);
      return { type: 'seq.retain', ...on, numbers: integer(args[3], 0n, SEQUENCE_VALUE_MAX) };
    }
  }
}

/** SEQ.LIST bucket [cursor] [COUNT n]; cursor "0" (or none) starts, else the hex of a name. */
function parseSeqList(args: readonly Buffer[]): SeqListCommand {
  if (args.length < 2 || args.length > 5) throw arity('seq.list');
  const bucket = nameArg(args[1]!, 'bucket');
  let at = 2;
  let after: Buffer = Buffer.alloc(0);
  const first = args[2]?.toString('latin1');
  if (first !== undefined && first.toLowerCase() !== 'count') {
    after = parseCursor(first);
    at = 3;
  }
  const o = options(args, at, ['count']);
  const count = o.has('count') ? Number(integer(o.get('count'), 1n, BigInt(SEQ_LIST_COUNT_MAX))) : SEQ_LIST_COUNT_DEFAULT;
  return { type: 'seq.list', bucket, after, count };
}

function parseCursor(cursor: string): Buffer {
  if (cursor === '0') return Buffer.alloc(0);
  if (!/^(?:[0-9a-f]{2}){1,256}$/.test(cursor)) throw new SeqError(ErrorCode.SYNTAX, 'syntax error: invalid cursor');
  return Buffer.from(cursor, 'hex');
}

/** The cursor that continues after `name` ("0" when the listing is complete). */
export function cursorAfter(name: Buffer | null): string {
  return name === null ? '0' : name.toString('hex');
}
