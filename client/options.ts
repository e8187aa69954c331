import { createSecureContext, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { invalidArgument } from './errors.ts';
import { parseAddress, type Address } from './address.ts';

/** Options of createClient. Every field but `routers` has a default. */
export interface ClientOptions {
  /** Addresses `host:port` of routers (or of a `seqdb dev` node): anything speaking the SeqDB
   * protocol. Calls go to one of them and fail over to the next. At least one, at most 64. */
  routers: readonly string[];
  /** Sockets opened per router; concurrent calls are spread over them. Default 1 (one pipelined
   * socket already carries thousands of calls per second). Range 1..16. */
  connectionsPerRouter?: number;
  /** How long opening a TCP connection may take. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** How long a written request may wait for its reply before its connection is presumed dead
   * and dropped (its requests then go to the retry path). Default 6000 ms: longer than a
   * router's own 5 s forwarding deadline, so that a router waiting out a leader election is not
   * mistaken for a dead one (a killed router is noticed at once by the connection reset). */
  attemptTimeoutMs?: number;
  /** Overall time a call may take, waiting in the queue and all retries included. When it
   * passes, the call fails with ERR_TIMEOUT or, if an attempt may have been applied,
   * ERR_OUTCOME_UNKNOWN. Default 15000 ms; each call can override it. */
  deadlineMs?: number;
  /** First retry delay ceiling; doubled per attempt up to backoffMaxMs. Default 25 ms. */
  backoffBaseMs?: number;
  /** Largest retry delay. Default 1000 ms. The delay is jittered in [ceiling/2, ceiling]. */
  backoffMaxMs?: number;
  /** Calls in progress at once (sent, or retrying). Default 1024. */
  pendingCallsMax?: number;
  /** Calls allowed to wait for a free slot when pendingCallsMax are in progress; beyond it calls
   * fail at once with ERR_QUEUE_FULL. 0 fails as soon as pendingCallsMax is reached. Waiting
   * counts against the call's deadline. Default 16384. */
  waitingCallsMax?: number;
  /** Random source in [0, 1) for backoff jitter; tests pass a seeded one. Default Math.random.
   * (Tokens always use crypto randomness.) */
  random?: () => number;
  /** Makes exactly-once tokens for INC calls that bring none. Default: timed tokens
   * `<unix ms>-<16 random base64url chars>` (see token.ts); the server can tell such a token
   * expired instead of treating it as new. */
  tokenFactory?: () => string;
  /** Sent as `AUTH <password>` first on every connection (servers started with --requirepass).
   * A wrong one makes every call fail with a ServerError whose serverCode is NOAUTH. Default: none. */
  password?: string;
  /** Connect with TLS using these options (e.g. `{ ca }`); host names are checked as usual.
   * Default: plain TCP. */
  tls?: TlsConnectionOptions;
  /**
   * Merge the inc() calls of one bucket (without `id`, `count` 1) made in one turn of the event
   * loop into one `INC ... COUNT k ID <token>` (one sequence) or `INCS bucket <token> seq..`
   * (several; client/inc-merger.ts): much more throughput, each caller still gets one number of
   * its own. An ERR_OUTCOME_UNKNOWN of a merged call carries `part` besides `token`: retry with
   * `{ id: token, part }`. Default false.
   */
  mergeIncs?: boolean;
}

export interface ResolvedOptions {
  readonly routers: readonly Address[];
  readonly connectionsPerRouter: number;
  readonly connectTimeoutMs: number;
  readonly attemptTimeoutMs: number;
  readonly deadlineMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly pendingCallsMax: number;
  readonly waitingCallsMax: number;
  readonly random: () => number;
  readonly tokenFactory: (() => string) | undefined;
  readonly password: string | undefined;
  readonly tls: TlsConnectionOptions | undefined;
  readonly mergeIncs: boolean;
}

export const ROUTERS_MAX = 64;
/** The longest deadline a client or one call may be given: an hour. */
export const DEADLINE_MS_MAX = 3_600_000;

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (!options || !Array.isArray(options.routers) || options.routers.length === 0) {
    throw invalidArgument('options.routers must list at least one host:port');
  }
  if (options.routers.length > ROUTERS_MAX) throw invalidArgument(`at most ${ROUTERS_MAX} routers`);
  const resolved: ResolvedOptions = {
    routers: options.routers.map(parseAddress),
    connectionsPerRouter: intOption('connectionsPerRouter', options.connectionsPerRouter, 1, 1, 16),
    connectTimeoutMs: intOption('connectTimeoutMs', options.connectTimeoutMs, 1000, 1, 600_000),
    attemptTimeoutMs: intOption('attemptTimeoutMs', options.attemptTimeoutMs, 6000, 1, 600_000),
    deadlineMs: intOption('deadlineMs', options.deadlineMs, 15_000, 1, DEADLINE_MS_MAX),
    backoffBaseMs: intOption('backoffBaseMs', options.backoffBaseMs, 25, 0, 60_000),
    backoffMaxMs: intOption('backoffMaxMs', options.backoffMaxMs, 1000, 0, 600_000),
    pendingCallsMax: intOption('pendingCallsMax', options.pendingCallsMax, 1024, 1, 1_000_000),
    waitingCallsMax: intOption('waitingCallsMax', options.waitingCallsMax, 16_384, 0, 10_000_000),
    random: options.random ?? Math.random,
    tokenFactory: options.tokenFactory,
    password: options.password,
    tls: options.tls,
    mergeIncs: options.mergeIncs === true,
  };
  if (options.mergeIncs !== undefined && typeof options.mergeIncs !== 'boolean') throw invalidArgument('mergeIncs must be a boolean');
  if (resolved.password !== undefined && (typeof resolved.password !== 'string' || resolved.password === '')) {
    throw invalidArgument('password must be a non-empty string');
  }
  if (resolved.tls !== undefined) checkTls(resolved.tls);
  return resolved;
}

/**
 * TLS settings Node refuses (a file that is not PEM, a bad minVersion) threw inside the first
 * connection attempt, a raw TypeError instead of a ClientError (a review): built once here, so
 * they fail at createClient with ERR_INVALID_ARGUMENT.
 */
function checkTls(tls: TlsConnectionOptions): void {
  if (typeof tls !== 'object' || tls === null) throw invalidArgument('tls must be an object of node:tls connection options');
  try {
    createSecureContext(tls);
  } catch (err) {
    throw invalidArgument(`tls: ${(err as Error).message}`);
  }
}

/** Validates a per-call deadline override. */
export function deadlineOption(value: number | undefined, fallback: number): number {
  return intOption('deadlineMs', value, fallback, 1, DEADLINE_MS_MAX);
}

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}
