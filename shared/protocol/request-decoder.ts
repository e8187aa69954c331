import { ErrorCode, SeqError } from '../errors.ts';
import { ByteAccumulator } from './byte-accumulator.ts';
import { splitInlineArgs } from './inline-args.ts';
import { type RequestLimits, resolveRequestLimits } from './limits.ts';

export { type RequestLimits, defaultRequestLimits } from './limits.ts';

export interface RequestDecoderHandlers {
  /**
   * One complete request. Arguments may be views into the chunks given to `write`: do not
   * mutate a chunk after writing it, and copy an argument you keep beyond the request.
   */
  onRequest(args: Buffer[]): void;
  /**
   * A rejected request. Non-fatal (`fatal` false): that one request was skipped and decoding
   * goes on. Fatal: code PROTOCOL, the message is what follows `-ERR Protocol error: `, and
   * the decoder ignores all further input (the server answers and closes the connection).
   */
  onError(err: SeqError, fatal: boolean): void;
}

const State = {
  Start: 0,
  Count: 1,
  BulkDollar: 2,
  BulkLength: 3,
  BulkData: 4,
  BulkCr: 5,
  BulkLf: 6,
  Inline: 7,
  Stopped: 8,
} as const;
type State = (typeof State)[keyof typeof State];

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;
const MINUS = 0x2d;
/** The smallest possible bulk element, `$0\r\n\r\n`: lets `*N` be judged before its elements arrive. */
const BULK_BYTES_MIN = 6;

/**
 * Decodes client requests (RESP arrays of bulk strings, or inline lines) from a byte stream.
 * Pure: no sockets, no timers. Keeps its parse state between writes, so a request arriving byte
 * by byte costs linear time, and holds at most about one request's bytes (see RequestLimits).
 */
export class RequestDecoder {
  readonly #handlers: RequestDecoderHandlers;
  readonly #limits: RequestLimits;
  #state: State = State.Start;

  // The number on a `*` or `$` header line being read.
  #num = 0;
  #numNegative = false;
  #numDigits = 0;
  #numSawCr = false;
  #numDone = false;

  // The RESP request being read.
  #argsExpected = 0;
  #argIndex = 0;
  #args: Buffer[] = [];
  #argsBytes = 0;
  #requestBytes = 0;
  /** Set when the request is well formed but refused: it is read to its end, then reported. */
  #refusal: SeqError | null = null;
  #bulkLength = 0;
  #bulkFilled = 0;
  #bulkTarget: Buffer | null = null;

  readonly #line: ByteAccumulator;

  constructor(handlers: RequestDecoderHandlers, limits?: Partial<RequestLimits>) {
    this.#handlers = handlers;
    this.#limits = resolveRequestLimits(limits);
    // +1: the CR of a CRLF is only known not to belong to the line once the LF arrives.
    this.#line = new ByteAccumulator(this.#limits.inlineBytesMax + 1);
  }

  get limits(): Readonly<RequestLimits> {
    return this.#limits;
  }

  /** True after a fatal error or stop(): further input is ignored. */
  get stopped(): boolean {
    return this.#state === State.Stopped;
  }

  /** A request has begun (even one still in its `*N` / `$N` header lines, which hold no bytes). */
  get midRequest(): boolean {
    return this.#state !== State.Start && this.#state !== State.Stopped;
  }

  /** Bytes held for the request in progress (gathered arguments and partial data). */
  bufferedBytes(): number {
    return this.#argsBytes + (this.#bulkTarget?.length ?? 0) + this.#line.capacity;
  }

  /** Ignores all further input and releases buffers (e.g. after QUIT). Safe inside a callback. */
  stop(): void {
    this.#state = State.Stopped;
    this.#resetRequest();
    this.#line.clear();
  }

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.#state) {
        case State.Stopped:
          return;
        case State.Start:
          pos = this.#start(chunk, pos);
          break;
        case State.Count:
          pos = this.#count(chunk, pos);
          break;
        case State.BulkDollar:
          pos = this.#bulkDollar(chunk, pos);
          break;
        case State.BulkLength:
          pos = this.#bulkLengthLine(chunk, pos);
          break;
        case State.BulkData:
          pos = this.#bulkData(chunk, pos);
          break;
        case State.BulkCr:
        case State.BulkLf:
          pos = this.#bulkCrlf(chunk, pos);
          break;
        case State.Inline:
          pos = this.#inline(chunk, pos);
          break;
      }
    }
  }

  #start(chunk: Buffer, pos: number): number {
    if (chunk[pos] !== STAR) {
      this.#state = State.Inline;
      return pos;
    }
    this.#resetRequest();
    this.#resetNumber();
    this.#requestBytes = 1;
    this.#state = State.Count;
    return pos + 1;
  }

  #count(chunk: Buffer, pos: number): number {
    const countMax = Math.floor(this.#limits.requestBytesMax / BULK_BYTES_MIN);
    const next = this.#readNumber(chunk, pos, countMax, true);
    if (next < 0) return this.#fatal('invalid multibulk length');
    if (!this.#numberDone()) return next;
    // Like Redis, `*0` and `*-1` (any count <= 0) are no request at all.
    if (this.#numNegative || this.#num === 0) {
      this.#state = State.Start;
      return next;
    }
    if (this.#requestBytes + this.#num * BULK_BYTES_MIN > this.#limits.requestBytesMax) {
      return this.#fatal('invalid multibulk length');
    }
    this.#argsExpected = this.#num;
    if (this.#num > this.#limits.argsMax) {
      this.#refusal = new SeqError(
        ErrorCode.TOO_MANY_ARGS,
        `too many arguments in request (max ${this.#limits.argsMax})`,
      );
    }
    this.#state = State.BulkDollar;
    return next;
  }

  #bulkDollar(chunk: Buffer, pos: number): number {
    const b = chunk[pos]!;
    if (b !== DOLLAR) return this.#fatal(`expected '$', got '${printable(b)}'`);
    this.#requestBytes += 1;
    this.#resetNumber();
    this.#state = State.BulkLength;
    return pos + 1;
  }

  #bulkLengthLine(chunk: Buffer, pos: number): number {
    const next = this.#readNumber(chunk, pos, this.#limits.requestBytesMax, false);
    if (next < 0) return this.#fatal('invalid bulk length');
    if (!this.#numberDone()) return next;
    const length = this.#num;
    const laterBulksMin = (this.#argsExpected - this.#argIndex - 1) * BULK_BYTES_MIN;
    this.#requestBytes += length + 2;
    if (this.#requestBytes + laterBulksMin > this.#limits.requestBytesMax) {
      return this.#fatal('invalid bulk length');
    }
    if (length > this.#limits.bulkBytesMax && this.#refusal === null) {
      this.#refusal = new SeqError(
        ErrorCode.REQUEST_TOO_LARGE,
        `argument too long (max ${this.#limits.bulkBytesMax} bytes)`,
      );
    }
    this.#bulkLength = length;
    this.#bulkFilled = 0;
    this.#state = State.BulkData;
    return next;
  }

  #bulkData(chunk: Buffer, pos: number): number {
    const wanted = this.#bulkLength - this.#bulkFilled;
    const taken = Math.min(wanted, chunk.length - pos);
    if (this.#refusal !== null) {
      this.#bulkFilled += taken; // refused requests are read but never stored
    } else if (this.#bulkFilled === 0 && taken === wanted) {
      this.#pushArg(chunk.subarray(pos, pos + taken)); // whole argument in this chunk: no copy
      this.#bulkFilled = wanted;
    } else {
      // Allocation is safe: the length was checked against the limits when declared.
      this.#bulkTarget ??= Buffer.allocUnsafe(this.#bulkLength);
      chunk.copy(this.#bulkTarget, this.#bulkFilled, pos, pos + taken);
      this.#bulkFilled += taken;
      if (this.#bulkFilled === this.#bulkLength) {
        const arg = this.#bulkTarget;
        this.#bulkTarget = null;
        this.#pushArg(arg);
      }
    }
    if (this.#bulkFilled === this.#bulkLength) this.#state = State.BulkCr;
    return pos + taken;
  }

  #bulkCrlf(chunk: Buffer, pos: number): number {
    const expected = this.#state === State.BulkCr ? CR : LF;
    if (chunk[pos] !== expected) return this.#fatal('expected CRLF after bulk argument');
    if (this.#state === State.BulkCr) {
      this.#state = State.BulkLf;
      return pos + 1;
    }
    this.#argIndex++;
    if (this.#argIndex < this.#argsExpected) {
      this.#state = State.BulkDollar;
      return pos + 1;
    }
    this.#finishRequest();
    return pos + 1;
  }

  #pushArg(arg: Buffer): void {
    this.#args.push(arg);
    this.#argsBytes += arg.length;
  }

  #finishRequest(): void {
    const args = this.#args;
    const refusal = this.#refusal;
    this.#resetRequest();
    this.#state = State.Start; // before the callback: it may call stop()
    if (refusal !== null) this.#handlers.onError(refusal, false);
    else this.#handlers.onRequest(args);
  }

  #inline(chunk: Buffer, pos: number): number {
    // Look no further than the line may reach: a huge chunk of garbage is judged in bounded time.
    const budget = this.#limits.inlineBytesMax + 1 - this.#line.length;
    const scanEnd = Math.min(chunk.length, pos + budget + 1);
    const newline = chunk.subarray(0, scanEnd).indexOf(LF, pos);
    if (newline === -1) {
      if (scanEnd - pos > budget) return this.#fatal('too big inline request');
      this.#line.append(chunk, pos, scanEnd);
      return scanEnd;
    }
    let line: Buffer;
    if (this.#line.length === 0) {
      line = chunk.subarray(pos, newline);
    } else {
      this.#line.append(chunk, pos, newline);
      line = this.#line.take();
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.#limits.inlineBytesMax) return this.#fatal('too big inline request');
    this.#state = State.Start;
    this.#inlineRequest(line);
    return newline + 1;
  }

  #inlineRequest(line: Buffer): void {
    const args = splitInlineArgs(line);
    if (args === null) {
      this.#fatal('unbalanced quotes in request');
    } else if (args.length > this.#limits.argsMax) {
      const message = `too many arguments in request (max ${this.#limits.argsMax})`;
      this.#handlers.onError(new SeqError(ErrorCode.TOO_MANY_ARGS, message), false);
    } else if (args.length > 0) {
      this.#handlers.onRequest(args);
    }
  }

  /**
   * Reads header digits up to and including CRLF. Returns the next position, or -1 when the line
   * is malformed or its value exceeds `max` (judged digit by digit, so endless digits stop early).
   * Canonical decimal only, as Redis's string2ll: no '+', no leading zeros, no "-0".
   */
  #readNumber(chunk: Buffer, pos: number, max: number, negativeAllowed: boolean): number {
    while (pos < chunk.length) {
      const b = chunk[pos++]!;
      this.#requestBytes++;
      if (this.#numSawCr) {
        if (b !== LF) return -1;
        this.#numDone = true;
        return pos;
      }
      if (b === CR) {
        if (this.#numDigits === 0 || (this.#numNegative && this.#num === 0)) return -1;
        this.#numSawCr = true;
      } else if (b === MINUS && negativeAllowed && this.#numDigits === 0 && !this.#numNegative) {
        this.#numNegative = true;
      } else if (b < 0x30 || b > 0x39 || (this.#numDigits > 0 && this.#num === 0)) {
        return -1;
      } else {
        this.#num = this.#num * 10 + (b - 0x30);
        this.#numDigits++;
        if (this.#num > max) return -1;
      }
    }
    return pos;
  }

  #numberDone(): boolean {
    return this.#numDone;
  }

  #resetNumber(): void {
    this.#num = 0;
    this.#numNegative = false;
    this.#numDigits = 0;
    this.#numSawCr = false;
    this.#numDone = false;
  }

  #resetRequest(): void {
    this.#argsExpected = 0;
    this.#argIndex = 0;
    this.#args = [];
    this.#argsBytes = 0;
    this.#requestBytes = 0;
    this.#refusal = null;
    this.#bulkLength = 0;
    this.#bulkFilled = 0;
    this.#bulkTarget = null;
  }

  /** Reports a fatal protocol error and stops; returns a position that ends the write loop. */
  #fatal(message: string): number {
    this.stop();
    this.#handlers.onError(new SeqError(ErrorCode.PROTOCOL, message), true);
    return Number.MAX_SAFE_INTEGER;
  }
}

function printable(b: number): string {
  if (b >= 0x20 && b < 0x7f) return String.fromCharCode(b);
  return `\\x${b.toString(16).padStart(2, '0')}`;
}
