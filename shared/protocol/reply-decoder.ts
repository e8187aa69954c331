// Referenced, not only included by our tsconfig: an app that type-checks the client from
// node_modules/seqdb never includes this package's ambient declarations (a review).
/// <reference path="./redis-parser.d.ts" />
import RedisParser from 'redis-parser';
import { ErrorCode, SeqError } from '../errors.ts';

/**
 * One decoded RESP2 reply. redis-parser does not tell `+simple` from `$bulk` strings, nor `$-1`
 * from `*-1`, so neither does this: both are 'string' and 'null' respectively.
 */
export type Reply<S extends Buffer | string = Buffer> =
  | { kind: 'string'; value: S }
  | { kind: 'integer'; value: bigint }
  /** `-MOVED 12 host:port` gives word 'MOVED', message '12 host:port'. */
  | { kind: 'error'; word: string; message: string }
  | { kind: 'null' }
  | { kind: 'array'; items: Reply<S>[] };

export interface ReplyDecoderHandlers<S extends Buffer | string = Buffer> {
  onReply(reply: Reply<S>): void;
  /** The stream is unreadable (code PROTOCOL) or a reply outgrew replyBytesMax; input after it is ignored. */
  onFatal(err: SeqError): void;
}

export interface ReplyDecoderOptions {
  /** How string replies come out; must match the class's type parameter. Default 'buffer'. */
  strings?: 'buffer' | 'utf8';
  /** Most bytes buffered while waiting for one reply to complete. Default 16 MiB. */
  replyBytesMax?: number;
}

const REPLY_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

/**
 * Decodes RESP2 replies (from a SeqDB node, or any Redis-compatible server) with integers as
 * bigint. A thin wrapper over redis-parser, run with returnBuffers + stringNumbers so that every
 * JavaScript type it returns maps to exactly one reply kind.
 */
export class ReplyDecoder<S extends Buffer | string = Buffer> {
  readonly #handlers: ReplyDecoderHandlers<S>;
  readonly #utf8: boolean;
  readonly #replyBytesMax: number;
  readonly #parser: RedisParser;
  #pendingBytes = 0;
  #repliedInWrite = false;
  #stopped = false;
  #writing = false;
  #handlerThrew = false;

  constructor(handlers: ReplyDecoderHandlers<S>, options: ReplyDecoderOptions = {}) {
    this.#handlers = handlers;
    this.#utf8 = options.strings === 'utf8';
    this.#replyBytesMax = options.replyBytesMax ?? REPLY_BYTES_MAX_DEFAULT;
    this.#parser = new RedisParser({
      returnBuffers: true,
      stringNumbers: true,
      returnReply: (raw) => this.#emit(raw),
      returnError: (err) => this.#emit(err),
      returnFatalError: (err) => this.#fatal(err.message),
    });
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  write(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#repliedInWrite = false;
    this.#pendingBytes += chunk.length;
    this.#writing = true;
    try {
      this.#parser.execute(chunk);
    } catch (err) {
      if (this.#handlerThrew) {
        // A bug in the caller's handler: the parser is left mid-reply, so stop, and let it surface.
        this.#stopped = true;
        this.#parser.reset();
        throw err;
      }
      // redis-parser is not hardened against every malformed input: unreadable either way.
      this.#fatal(`unreadable reply stream: ${(err as Error).message}`);
    } finally {
      this.#handlerThrew = false;
      this.#writing = false;
    }
    if (this.#stopped) {
      this.#parser.reset(); // deferred: resetting inside a parser callback breaks its loop
      return;
    }
    // Approximate but bounded: bytes of a partial reply are counted from the last write that
    // completed a reply, so what is held never exceeds replyBytesMax plus one chunk.
    if (this.#repliedInWrite) this.#pendingBytes = 0;
    if (this.#pendingBytes > this.#replyBytesMax) {
      this.#fatal(`reply larger than ${this.#replyBytesMax} bytes`);
    }
  }

  /** Ignores all further input and drops buffered bytes. */
  stop(): void {
    this.#stopped = true;
    if (!this.#writing) this.#parser.reset();
  }

  #emit(raw: unknown): void {
    if (this.#stopped) return;
    this.#repliedInWrite = true;
    let reply: Reply<S>;
    try {
      reply = this.#convert(raw);
    } catch (err) {
      this.#fatal((err as Error).message);
      return;
    }
    try {
      this.#handlers.onReply(reply);
    } catch (err) {
      this.#handlerThrew = true;
      throw err;
    }
  }

  #convert(raw: unknown): Reply<S> {
    if (raw === null) return { kind: 'null' };
    if (typeof raw === 'string') return { kind: 'integer', value: parseInteger(raw) };
    if (Buffer.isBuffer(raw)) {
      return { kind: 'string', value: (this.#utf8 ? raw.toString('utf8') : raw) as S };
    }
    if (Array.isArray(raw)) return { kind: 'array', items: raw.map((item) => this.#convert(item)) };
    if (raw instanceof Error) return splitError(raw.message);
    throw new Error(`unexpected reply value ${typeof raw}`);
  }

  #fatal(message: string): void {
    if (this.#stopped) return;
    this.stop();
    this.#handlers.onFatal(new SeqError(ErrorCode.PROTOCOL, message));
  }
}

function parseInteger(text: string): bigint {
  // redis-parser does not validate digits; BigInt would accept '' as 0n, and '0x1f' as hex.
  if (!/^-?\d+$/.test(text)) throw new Error(`invalid integer reply '${text.slice(0, 32)}'`);
  return BigInt(text);
}

function splitError(line: string): Reply<never> {
  const space = line.indexOf(' ');
  if (space === -1) return { kind: 'error', word: line, message: '' };
  return { kind: 'error', word: line.slice(0, space), message: line.slice(space + 1) };
}
