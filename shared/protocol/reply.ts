import { ErrorCode, SeqError } from '../errors.ts';

/**
 * RESP2 reply encoders. Strings are returned where the reply is text (cheap to concatenate),
 * Buffers where binary payloads are involved. Lines never contain a raw CR or LF: text that
 * could carry them is sanitized, so a reply can never break the stream framing.
 */

export const OK = '+OK\r\n';
export const PONG = '+PONG\r\n';
export const NULL_BULK = '$-1\r\n';
export const NULL_ARRAY = '*-1\r\n';

export type Encoded = Buffer | string;

/** `+text\r\n`; CR/LF inside `text` become spaces. */
export function simpleString(text: string): string {
  return `+${oneLine(text)}\r\n`;
}

/** `-WORD message\r\n` for a raw word; prefer errorReply for SeqErrors. */
export function errorLine(word: string, message: string): string {
  const w = oneLine(word).trim().replace(/ /g, '_') || 'ERR';
  const m = oneLine(message);
  return m === '' ? `-${w}\r\n` : `-${w} ${m}\r\n`;
}

/** `:n\r\n`; n must be an integer (a bigint for values beyond 2^53). */
export function integer(n: number | bigint): string {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) {
    throw new RangeError(`integer reply needs a safe integer or a bigint, got ${n}`);
  }
  return `:${n}\r\n`;
}

/** `$len\r\n<bytes>\r\n`, or `$-1\r\n` for null. Binary-safe for Buffers; strings go as UTF-8. */
export function bulk(value: Buffer | string | null): Encoded {
  if (value === null) return NULL_BULK;
  if (typeof value === 'string') return `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
  return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, CRLF]);
}

/** `*n\r\n` followed by already-encoded parts, or `*-1\r\n` for null. */
export function array(parts: readonly Encoded[] | null): Encoded {
  if (parts === null) return NULL_ARRAY;
  const header = `*${parts.length}\r\n`;
  if (parts.every((p) => typeof p === 'string')) return header + parts.join('');
  return Buffer.concat([Buffer.from(header), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))]);
}

/**
 * The one place that turns an error code into a wire error. Codes that clients and tools act on
 * keep Redis's words (MOVED, TRYAGAIN, CLUSTERDOWN, BUSY, NOAUTH, WRONGPASS, NOPERM) plus our
 * NOTLEADER, AMBIGUOUS (a write that may or may not have applied: retry it only with the same
 * ID token; the word CockroachDB uses for the same case), SHUTDOWN (refused, not executed: the
 * server is stopping, ask another) and FEATUREOFF (refused, not executed: a command some member
 * of the shard may not be able to apply yet, INCS during an upgrade) and NOSPACE (refused, not
 * executed: the node's disk is under its reserve; etcd's alarm name); the rest are ERR.
 * PROTOCOL errors read `-ERR Protocol error: <message>` as Redis's do.
 */
export function errorReply(err: Pick<SeqError, 'code' | 'message'>): string {
  if (err.code === ErrorCode.PROTOCOL) return errorLine('ERR', `Protocol error: ${err.message}`);
  return errorLine(WIRE_WORDS[err.code] ?? 'ERR', err.message);
}

/** Alias named in shared/errors.ts. */
export const toWire = errorReply;

const WIRE_WORDS: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.NOT_LEADER]: 'NOTLEADER',
  [ErrorCode.MOVED]: 'MOVED',
  [ErrorCode.TRY_AGAIN]: 'TRYAGAIN',
  [ErrorCode.CLUSTER_DOWN]: 'CLUSTERDOWN',
  [ErrorCode.BUSY]: 'BUSY',
  [ErrorCode.AUTH_REQUIRED]: 'NOAUTH',
  [ErrorCode.AUTH_FAILED]: 'WRONGPASS',
  [ErrorCode.NO_PERMISSION]: 'NOPERM',
  [ErrorCode.OUTCOME_UNKNOWN]: 'AMBIGUOUS',
  [ErrorCode.SHUTTING_DOWN]: 'SHUTDOWN',
  [ErrorCode.FEATURE_OFF]: 'FEATUREOFF',
  [ErrorCode.IDENTITY_MISMATCH]: 'WRONGCLUSTER',
  [ErrorCode.NO_SPACE]: 'NOSPACE',
};

const CRLF = Buffer.from('\r\n');

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** The inverse of errorReply's word mapping, for routers and clients: null for plain ERR words. */
export function codeForWireWord(word: string): ErrorCode | null {
  for (const [code, w] of Object.entries(WIRE_WORDS)) if (w === word) return code as ErrorCode;
  return null;
}
