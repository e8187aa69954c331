/**
 * Client arguments -> typed commands, with every validation of the protocol. Throws SeqError with
 * a stable code and a Redis-worded message; never touches storage.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import {
  INC_COUNT_MAX,
  NAME_BYTES_MAX,
  SEQUENCE_VALUE_MAX,
  TOKEN_BYTES_MAX,
  type Command,
  type IncCommand,
  type IncsCommand,
} from './command.ts';
import { parseSeriesCommand } from './series-command.ts';
import { blockTokenCount, multiTokenCount, parsePart, type Part } from '../../shared/protocol/part-token.ts';

/** Lower-case names of the commands the state machine applies. */
export const DATA_COMMAND_NAMES: ReadonlySet<string> = new Set(['set', 'get', 'inc', 'incs']);

const NOT_INTEGER_MESSAGE = 'value is not an integer or out of range';
/** Canonical decimal: no sign, no leading zeros (Redis's string2ll rejects those too). */
const DECIMAL = /^(?:0|[1-9][0-9]{0,18})$/;

/** Parses `args` (args[0] is the command name, any case) into a state-machine command. */
export function parseCommand(args: readonly Buffer[]): Command {
  if (args.length === 0) throw new SeqError(ErrorCode.UNKNOWN_COMMAND, "unknown command ''");
  const name = args[0]!.toString('latin1').toLowerCase();
  switch (name) {
    case 'set':
      return parseSet(args);
    case 'get':
      return parseGet(args);
    case 'inc':
      return parseInc(args);
    case 'incs':
      return parseIncs(args);
    default:
      // Issue 12: RESERVE, CONFIRM, VOID, AUDIT, SEQ.* (series-command.ts).
      return parseSeriesCommand(name, args) ?? throwUnknown(args[0]!);
  }
}

/** `INC bucket sequence` alone (the caller checked the name and that there are 3 arguments). */
export function parsePlainInc(args: readonly Buffer[]): IncCommand {
  return { type: 'inc', bucket: name(args[1]!, 'bucket'), sequence: name(args[2]!, 'sequence'), count: 1 };
}

function throwUnknown(nameArg: Buffer): never {
  throw unknownCommand(nameArg);
}

export function unknownCommand(nameArg: Buffer): SeqError {
  return new SeqError(ErrorCode.UNKNOWN_COMMAND, `unknown command '${printable(nameArg, 128)}'`);
}

export function wrongArity(name: string): SeqError {
  return new SeqError(ErrorCode.WRONG_ARITY, `wrong number of arguments for '${name}'`);
}

export function syntaxError(): SeqError {
  return new SeqError(ErrorCode.SYNTAX, 'syntax error');
}

/** Parses a canonical decimal in [min, max]; anything else is NOT_INTEGER. */
export function parseInteger(arg: Buffer, min: bigint, max: bigint): bigint {
  const text = arg.toString('latin1');
  if (!DECIMAL.test(text)) throw new SeqError(ErrorCode.NOT_INTEGER, NOT_INTEGER_MESSAGE);
  const value = BigInt(text);
  if (value < min || value > max) throw new SeqError(ErrorCode.NOT_INTEGER, NOT_INTEGER_MESSAGE);
  return value;
}

function parseSet(args: readonly Buffer[]): Command {
  if (args.length !== 4) throw wrongArity('set');
  const value = parseInteger(args[3]!, 0n, SEQUENCE_VALUE_MAX);
  return { type: 'set', bucket: name(args[1]!, 'bucket'), sequence: name(args[2]!, 'sequence'), value };
}

function parseGet(args: readonly Buffer[]): Command {
  if (args.length !== 3) throw wrongArity('get');
  return { type: 'get', bucket: name(args[1]!, 'bucket'), sequence: name(args[2]!, 'sequence') };
}

/**
 * INC bucket sequence [COUNT n] [ID token] [PART i/k], options in any order, each at most once.
 * PART (part-token.ts) needs an ID and names one number of the block `COUNT k ID token`: a COUNT
 * beside it may only be 1 (what the part is).
 */
function parseInc(args: readonly Buffer[]): IncCommand | IncsCommand {
  if (args.length < 3) throw wrongArity('inc');
  const bucket = name(args[1]!, 'bucket');
  const sequence = name(args[2]!, 'sequence');
  let count: number | undefined;
  let token: Buffer | undefined;
  let part: Part | undefined;
  for (let i = 3; i < args.length; i += 2) {
    const option = args[i]!.toString('latin1').toLowerCase();
    const value = args[i + 1];
    if (value === undefined) throw syntaxError();
    if (option === 'count' && count === undefined) {
      count = Number(parseInteger(value, 1n, BigInt(INC_COUNT_MAX)));
    } else if (option === 'id' && token === undefined) {
      token = tokenArg(value);
    } else if (option === 'part' && part === undefined) {
      part = parsePart(value);
    } else {
      throw syntaxError();
    }
  }
  const command: IncCommand = { type: 'inc', bucket, sequence, count: count ?? 1 };
  const multiCount = token === undefined ? undefined : multiTokenCount(token);
  if (multiCount !== undefined) return multiPart(command, token!, part, multiCount, count);
  const blockCount = token === undefined ? undefined : blockTokenCount(token);
  if (blockCount !== undefined && (part === undefined ? (count ?? 1) !== blockCount : part.count !== blockCount)) {
    throw new SeqError(ErrorCode.SYNTAX, `syntax error: a block token (~${blockCount}) is used with COUNT ${blockCount} or PART <i>/${blockCount}`);
  }
  if (part !== undefined) {
    if (token === undefined) throw new SeqError(ErrorCode.SYNTAX, 'syntax error: PART needs the ID of its block');
    if (count !== undefined && count !== 1) throw new SeqError(ErrorCode.SYNTAX, 'syntax error: a PART is one number (COUNT 1 or none)');
    return { ...command, count: part.count, token, part: part.index };
  }
  return token === undefined ? command : { ...command, token };
}

/** `INC bucket sequence ID <multi token> PART i/k`: the retry of one part of an INCS. */
function multiPart(command: IncCommand, token: Buffer, part: Part | undefined, multiCount: number, count: number | undefined): IncsCommand {
  if (part === undefined || part.count !== multiCount || (count !== undefined && count !== 1)) {
    throw new SeqError(ErrorCode.SYNTAX, `syntax error: a multi-sequence block token (+${multiCount}) is used with INCS or PART <i>/${multiCount}`);
  }
  return { type: 'incs', bucket: command.bucket, sequences: [command.sequence], token, part: part.index };
}

/**
 * INCS bucket token sequence [sequence ...]: one number of each sequence, atomically (a sequence
 * named twice takes two, in order); the token is required, a multi-sequence block token of as
 * many parts as sequences (part-token.ts), so each part can be retried alone.
 */
function parseIncs(args: readonly Buffer[]): IncsCommand {
  if (args.length < 4) throw wrongArity('incs');
  const bucket = name(args[1]!, 'bucket');
  const token = tokenArg(args[2]!);
  const sequences = args.slice(3).map((arg) => name(arg, 'sequence'));
  if (multiTokenCount(token) !== sequences.length) {
    throw new SeqError(ErrorCode.SYNTAX, 'syntax error: INCS takes a multi-sequence block token (<ms>-<16 chars>+<k>) of k = the number of sequences');
  }
  return { type: 'incs', bucket, sequences, token };
}

function name(arg: Buffer, what: 'bucket' | 'sequence'): Buffer {
  if (arg.length === 0 || arg.length > NAME_BYTES_MAX) {
    throw new SeqError(ErrorCode.NAME_TOO_LONG, `${what} name must be 1 to ${NAME_BYTES_MAX} bytes`);
  }
  return arg;
}

function tokenArg(arg: Buffer): Buffer {
  if (arg.length === 0 || arg.length > TOKEN_BYTES_MAX) {
    throw new SeqError(ErrorCode.SYNTAX, `syntax error: ID token must be 1 to ${TOKEN_BYTES_MAX} bytes`);
  }
  return arg;
}

/** Echoes client bytes into an error message without CR/LF or control bytes, bounded in length. */
export function printable(arg: Buffer, bytesMax: number): string {
  const text = arg.subarray(0, bytesMax).toString('latin1');
  return text.replace(/[\x00-\x1f\x7f-\xff']/g, '?');
}
