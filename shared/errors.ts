/**
 * Stable error codes. Every error SeqDB reports carries one of these; callers and tests match
 * on the code, never on message text. `toWire` in shared/protocol/reply.ts is the one place that
 * turns a code into a RESP error line.
 */
export const ErrorCode = {
  /** Malformed request stream; the connection is closed after the reply. */
  PROTOCOL: 'PROTOCOL',
  UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
  WRONG_ARITY: 'WRONG_ARITY',
  /** Not a decimal integer, or outside the allowed range. */
  NOT_INTEGER: 'NOT_INTEGER',
  OVERFLOW: 'OVERFLOW',
  SYNTAX: 'SYNTAX',
  NAME_TOO_LONG: 'NAME_TOO_LONG',
  TOO_MANY_ARGS: 'TOO_MANY_ARGS',
  REQUEST_TOO_LARGE: 'REQUEST_TOO_LARGE',
  /** An exactly-once token seen after its retention window: never served a fresh number. */
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /** A token reused with a different command shape (other COUNT, other sequence kind). */
  TOKEN_MISMATCH: 'TOKEN_MISMATCH',
  NOT_LEADER: 'NOT_LEADER',
  MOVED: 'MOVED',
  TRY_AGAIN: 'TRY_AGAIN',
  CLUSTER_DOWN: 'CLUSTER_DOWN',
  /** The server is overloaded (queues full); safe to retry later. */
  BUSY: 'BUSY',
  /** Storage failed; the node stops serving rather than risk an unflushed acknowledgement. */
  STORAGE: 'STORAGE',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  INTERNAL: 'INTERNAL',
  /** A data dir that belongs to another node identity (shard or cluster); the node refuses to start. */
  IDENTITY_MISMATCH: 'IDENTITY_MISMATCH',
  /** A write whose fate is unknown (leadership lost, timeout): retry only with the same ID token. */
  OUTCOME_UNKNOWN: 'OUTCOME_UNKNOWN',
  /** Discovery options are invalid, or --host is not an IPv4 address of a local interface. */
  DISCOVERY_CONFIG: 'DISCOVERY_CONFIG',
  /** The mDNS socket could not be bound or joined to the multicast group on --host. */
  DISCOVERY_SOCKET: 'DISCOVERY_SOCKET',
  /** Another live process already announces our instance name (same cluster, role, shard, host, port). */
  DISCOVERY_NAME_CONFLICT: 'DISCOVERY_NAME_CONFLICT',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error with a stable code; `detail` is appended to the wire message where the code allows. */
export class SeqError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SeqError';
    this.code = code;
  }
}
