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
  /**
   * A new timed token (`<unix ms>-...`) further ahead of the shard's clock than the state
   * machine's `tokenFutureMsMax`: refused, nothing taken (its clock runs fast). Once forgotten,
   * such a token would raise the expiry fence into the future or be retried as a new one.
   */
  TOKEN_AHEAD: 'TOKEN_AHEAD',
  NOT_LEADER: 'NOT_LEADER',
  MOVED: 'MOVED',
  TRY_AGAIN: 'TRY_AGAIN',
  CLUSTER_DOWN: 'CLUSTER_DOWN',
  /** The server is overloaded (queues full); safe to retry later. */
  BUSY: 'BUSY',
  /** Storage failed; the node stops serving rather than risk an unflushed acknowledgement. */
  STORAGE: 'STORAGE',
  /** Bytes that do not match their checksum (a peer frame changed on the way, a stored snapshot image damaged). */
  CORRUPT: 'CORRUPT',
  /**
   * The node's disk is under its free-space reserve (node/disk/disk-guard.ts): the write was
   * refused before anything was taken; writes resume once space is freed.
   */
  NO_SPACE: 'NO_SPACE',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  INTERNAL: 'INTERNAL',
  /** A data dir another live process holds (node/disk/data-dir-lock.ts); the node refuses to start. */
  DATA_DIR_IN_USE: 'DATA_DIR_IN_USE',
  /** A data dir that belongs to another node identity (shard or cluster); the node refuses to start. */
  IDENTITY_MISMATCH: 'IDENTITY_MISMATCH',
  /**
   * A command the shard's leader knows but will not run yet: some member is not known to run a
   * version that can apply it (INCS during a rolling upgrade). Nothing was run; send the work
   * another way (INCs one at a time) or later.
   */
  FEATURE_OFF: 'FEATURE_OFF',
  /** A write whose fate is unknown (leadership lost, timeout): retry only with the same ID token. */
  OUTCOME_UNKNOWN: 'OUTCOME_UNKNOWN',
  /** A slot-move step (CLUSTER FREEZE/IMPORT/REJECT/..., node/ownership/) is refused by its guards. */
  MOVE_REFUSED: 'MOVE_REFUSED',
  /** Discovery options are invalid, or --host is not an IPv4 address of a local interface. */
  DISCOVERY_CONFIG: 'DISCOVERY_CONFIG',
  /** The mDNS socket could not be bound or joined to the multicast group on --host. */
  DISCOVERY_SOCKET: 'DISCOVERY_SOCKET',
  /** Another live process already announces our instance name (same cluster, role, shard, host, port). */
  DISCOVERY_NAME_CONFLICT: 'DISCOVERY_NAME_CONFLICT',
  /** The connection has not authenticated (AUTH) and the server requires a password. */
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  /** A wrong password, or a refused cluster-secret proof. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** An internal command (CLUSTER, SEQDB.* admin) on a connection that did not prove the cluster secret. */
  NO_PERMISSION: 'NO_PERMISSION',
  /** Series (issue 12): CONFIRM/VOID of a number not handed out yet. */
  NUMBER_UNKNOWN: 'NUMBER_UNKNOWN',
  /** Series: CONFIRM/VOID of a number that was not reserved (plain INC, before the series, pruned). */
  NOT_RESERVED: 'NOT_RESERVED',
  /** Series: VOID of a used number (used numbers stay used), or CONFIRM again with another REF. */
  NUMBER_USED: 'NUMBER_USED',
  /** Series: CONFIRM of a voided number (voided by VOID or by its reservation running out). */
  NUMBER_VOID: 'NUMBER_VOID',
  /** Series: SET on a series sequence is refused (it would reuse or skip numbers). */
  SERIES_SET: 'SERIES_SET',
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
