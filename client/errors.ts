/**
 * Client errors. Every error the client returns is a ClientError with a stable `code`; callers
 * branch on the code (or on `instanceof` a subclass), never on message text.
 */

export const ClientErrorCode = {
  /** The client was closed before or while the call ran; nothing more will be sent. */
  CLOSED: 'ERR_CLOSED',
  /** The call's deadline passed and the call was certainly NOT applied (a read, or a write every
   * attempt of which was refused or never sent). Safe to simply try again. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** The deadline passed after an attempt that may have been applied. For INC the error carries
   * the token: retrying with that same token returns the original numbers or takes new ones,
   * never both, so no gap and no repeat. */
  OUTCOME_UNKNOWN: 'ERR_OUTCOME_UNKNOWN',
  /** The server answered with a definite error (syntax, range, overflow, …); `serverCode` holds
   * its code word (ERR, MOVED, …). Never retried. */
  SERVER: 'ERR_SERVER',
  /** The server says the exactly-once token is older than its retention window. The outcome of
   * the original INC can no longer be learned from the server; it never hands out new numbers
   * for such a token. */
  TOKEN_EXPIRED: 'ERR_TOKEN_EXPIRED',
  /** Too many calls in progress and waiting (see ClientOptions.pendingCallsMax/waitingCallsMax). */
  QUEUE_FULL: 'ERR_QUEUE_FULL',
  /** A bad argument, caught before anything was sent. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** The server sent bytes that are not RESP; the connection was dropped. */
  PROTOCOL: 'ERR_PROTOCOL',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** A definite error reply from the server. */
export class ServerError extends ClientError {
  /** The first word of the RESP error line: 'ERR', 'MOVED', 'NOTLEADER', … */
  readonly serverCode: string;
  /** The rest of the error line. */
  readonly serverMessage: string;
  /** Attempts the call made, the first included (set when the client gave up on this reply). */
  readonly attempts: number | undefined;
  constructor(serverCode: string, serverMessage: string, code: ClientErrorCode = ClientErrorCode.SERVER, attempts?: number) {
    super(code, serverMessage === '' ? serverCode : `${serverCode} ${serverMessage}`);
    this.name = 'ServerError';
    this.serverCode = serverCode;
    this.serverMessage = serverMessage;
    this.attempts = attempts;
  }
}

/** What to do about an unknown outcome whose token the server has forgotten (not `retryable`). */
export const FORGOTTEN_TOKEN_ADVICE = 'the server no longer knows its token: read the sequence to see whether it moved';

/** The deadline passed after an attempt that may have been applied. */
export class OutcomeUnknownError extends ClientError {
  /** The exactly-once token of the INC: pass it as `id` to retry without a gap. Absent for SET
   * and raw commands, which carry no token. */
  readonly token: string | undefined;
  /** Attempts made, the first included. */
  readonly attempts: number;
  /**
   * Set when the INC went out merged with others into one block (ClientOptions.mergeIncs): which
   * number of the block was this call's. Retry with `{ id: token, part }`.
   */
  readonly part: { readonly index: number; readonly count: number } | undefined;
  constructor(message: string, token: string | undefined, attempts: number, cause: unknown, part?: { index: number; count: number }) {
    super(ClientErrorCode.OUTCOME_UNKNOWN, message, { cause });
    this.name = 'OutcomeUnknownError';
    this.token = token;
    this.attempts = attempts;
    this.part = part;
  }

  /**
   * False when the server has forgotten the token (its last reply was TOKEN_EXPIRED): retrying
   * with it would only be refused again; read the sequence to see whether it moved.
   */
  get retryable(): boolean {
    return this.token !== undefined && !(this.cause instanceof ServerError && this.cause.code === ClientErrorCode.TOKEN_EXPIRED);
  }
}

export class TimeoutError extends ClientError {
  readonly attempts: number;
  constructor(message: string, attempts: number, cause: unknown) {
    super(ClientErrorCode.TIMEOUT, message, { cause });
    this.name = 'TimeoutError';
    this.attempts = attempts;
  }
}

export function invalidArgument(message: string): ClientError {
  return new ClientError(ClientErrorCode.INVALID_ARGUMENT, message);
}

export function isClientError(err: unknown, code?: ClientErrorCode): err is ClientError {
  return err instanceof ClientError && (code === undefined || err.code === code);
}
