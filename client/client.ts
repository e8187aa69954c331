import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Reply } from '../shared/protocol/reply-decoder.ts';
import { backoffDelayMs } from './backoff.ts';
import { CallGate } from './call-gate.ts';
import { encodeRequest, type Arg } from './encode.ts';
import {
  ClientError,
  ClientErrorCode,
  FORGOTTEN_TOKEN_ADVICE,
  invalidArgument,
  OutcomeUnknownError,
  ServerError,
  TimeoutError,
} from './errors.ts';
import { isTokenExpired, judge, RETRYABLE_WORDS, type AttemptFailure, type Verdict } from './outcome.ts';
import { deadlineOption, resolveOptions, type ClientOptions, type ResolvedOptions } from './options.ts';
import { RouterPool } from './router-pool.ts';
import { IncMerger, type BlockPart } from './inc-merger.ts';
import { blockTokenCount, multiTokenCount, parsePart } from '../shared/protocol/part-token.ts';
import { timedToken } from './token.ts';
import { checkCount, checkName, checkToken, checkValue, type Name } from './validate.ts';
import { monoNowMs } from '../shared/mono-clock.ts';

export interface CallOptions {
  /** Overrides ClientOptions.deadlineMs for this call. */
  deadlineMs?: number;
}

export interface IncOptions extends CallOptions {
  /** Numbers to take in one step, 1..1,000,000; the reply is the last. Default 1. */
  count?: number;
  /** Exactly-once token, 1..64 bytes. Default: a fresh timed token. Pass the token of an
   * ERR_OUTCOME_UNKNOWN error to finish that INC. */
  id?: string;
  /** With `id`: number `index` of the block of `count` taken with that token (the `part` of an
   * ERR_OUTCOME_UNKNOWN error of a merged call, see ClientOptions.mergeIncs). */
  part?: BlockPart;
}

export interface CommandOptions extends CallOptions {
  /** May the command be re-sent when an attempt may already have been applied? True for reads
   * and token-carrying INCs; false (the default) retries only attempts that certainly were not
   * applied. */
  idempotent?: boolean;
  /** The command changes nothing (GET, PING, INFO): retried freely, and a failure is never
   * reported as ERR_OUTCOME_UNKNOWN. */
  readOnly?: boolean;
  /** Reported in ERR_OUTCOME_UNKNOWN errors. */
  token?: string;
}

/** The SeqDB client: see createClient. */
export class SeqClient {
  readonly #options: ResolvedOptions;
  readonly #pool: RouterPool;
  readonly #gate: CallGate;
  readonly #abort = new AbortController();
  readonly #merger: IncMerger | null;
  #closing: Promise<void> | null = null;

  constructor(options: ClientOptions) {
    this.#options = resolveOptions(options);
    this.#pool = new RouterPool(this.#options.routers, {
      connectTimeoutMs: this.#options.connectTimeoutMs,
      attemptTimeoutMs: this.#options.attemptTimeoutMs,
      connectionsPerRouter: this.#options.connectionsPerRouter,
      routerDownMs: Math.max(this.#options.backoffMaxMs, 100),
      ...(this.#options.password !== undefined ? { password: this.#options.password } : {}),
      ...(this.#options.tls !== undefined ? { tls: this.#options.tls } : {}),
    });
    this.#gate = new CallGate(this.#options.pendingCallsMax, this.#options.waitingCallsMax);
    // Every call sleeping in backoff listens on the signal; their number is bounded by the gate.
    setMaxListeners(this.#options.pendingCallsMax + 1, this.#abort.signal);
    this.#merger = !this.#options.mergeIncs ? null : new IncMerger({
      block: (bucket, sequence, count, id, deadlineAtMs) => this.#inc(bucket, sequence, { count, id }, deadlineAtMs),
      incs: (bucket, sequences, token, deadlineAtMs) => this.#incs(bucket, sequences, token, deadlineAtMs),
      single: (bucket, sequence, deadlineAtMs) => this.#inc(bucket, sequence, {}, deadlineAtMs),
      membersMax: this.#options.pendingCallsMax + this.#options.waitingCallsMax,
    });
  }

  /**
   * Takes the next number of a sequence (or `count` numbers, returning the last), exactly once:
   * retried with one token until it succeeds, fails definitely, or the deadline passes
   * (ERR_OUTCOME_UNKNOWN with `token`; retry with `{ id: token }`).
   */
  async inc(bucket: Name, sequence: Name, options: IncOptions = {}): Promise<bigint> {
    checkName(bucket, 'bucket');
    checkName(sequence, 'sequence');
    if (this.#merger !== null && options.id === undefined && options.part === undefined && (options.count ?? 1) === 1) {
      if (options.count !== undefined) checkCount(options.count);
      const deadlineAtMs = monoNowMs() + deadlineOption(options.deadlineMs, this.#options.deadlineMs);
      return this.#merger.add(bucket, sequence, deadlineAtMs);
    }
    return this.#inc(bucket, sequence, options);
  }

  async #inc(bucket: Name, sequence: Name, options: IncOptions, deadlineAtMs?: number): Promise<bigint> {
    const args: Arg[] = ['INC', bucket, sequence];
    if (options.count !== undefined) args.push('COUNT', String(checkCount(options.count)));
    const token = options.id ?? this.#newToken();
    checkToken(token);
    checkBlockToken(token, options);
    args.push('ID', token);
    if (options.part !== undefined) {
      if (options.id === undefined) throw invalidArgument('part needs the id of its block');
      args.push('PART', checkPart(options.part, options.count));
    }
    const reply = await this.#call(args, { ...options, idempotent: true, token }, deadlineAtMs);
    return expectInteger(reply, 'INC');
  }

  /** `INCS bucket token seq..` (merged calls of several sequences): each part's number. */
  async #incs(bucket: Name, sequences: readonly Name[], token: string, deadlineAtMs: number): Promise<bigint[]> {
    const reply = await this.#call(['INCS', bucket, token, ...sequences], { idempotent: true, token }, deadlineAtMs);
    if (reply.kind !== 'array' || reply.items.length !== sequences.length) {
      throw new ClientError(ClientErrorCode.PROTOCOL, `unexpected ${reply.kind} reply to INCS`);
    }
    return reply.items.map((item) => expectInteger(item, 'INCS'));
  }

  /** The current value of a sequence, or null if it was never set or incremented. */
  async get(bucket: Name, sequence: Name, options: CallOptions = {}): Promise<bigint | null> {
    checkName(bucket, 'bucket');
    checkName(sequence, 'sequence');
    const reply = await this.#call(['GET', bucket, sequence], { ...options, readOnly: true });
    return reply.kind === 'null' ? null : expectInteger(reply, 'GET');
  }

  /**
   * Sets a sequence to `value` (0..2^63-1). Not retried once it may have been applied (a late
   * replay could move the sequence back under other clients' INCs): then ERR_OUTCOME_UNKNOWN.
   */
  async set(bucket: Name, sequence: Name, value: bigint | number, options: CallOptions = {}): Promise<void> {
    checkName(bucket, 'bucket');
    checkName(sequence, 'sequence');
    const reply = await this.#call(['SET', bucket, sequence, checkValue(value).toString()], options);
    expectString(reply, 'SET');
  }

  /** PONG from the preferred router. */
  async ping(options: CallOptions = {}): Promise<string> {
    return expectString(await this.#call(['PING'], { ...options, readOnly: true }), 'PING');
  }

  /** The INFO text of the preferred router (`key:value` lines; see parseInfo). */
  async info(options: CallOptions = {}): Promise<string> {
    return expectString(await this.#call(['INFO'], { ...options, readOnly: true }), 'INFO');
  }

  /**
   * Any command, for tools such as `seqdb cli`. Error replies reject with ServerError; other
   * replies are returned as decoded.
   */
  async sendCommand(args: readonly Arg[], options: CommandOptions = {}): Promise<Reply> {
    if (args.length === 0) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'empty command');
    return this.#call(args, options);
  }

  /** Refuses new calls, lets calls in progress finish (within their deadlines), then closes the
   * connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#merger?.flush(); // merged calls already made go out like any other call in progress
      this.#gate.close(closedError());
      await this.#gate.idle();
      this.#pool.destroy(closedError());
    })();
    return this.#closing;
  }

  /** Closes at once: calls in progress fail with ERR_CLOSED, or ERR_OUTCOME_UNKNOWN when an
   * attempt may have been applied. */
  destroy(): void {
    this.#gate.close(closedError());
    this.#abort.abort();
    this.#pool.destroy(closedError());
    this.#closing ??= this.#gate.idle();
  }

  #newToken(): string {
    return this.#options.tokenFactory?.() ?? timedToken();
  }

  /** `deadlineAtMs`: an absolute deadline fixed earlier (a merged call's, from its inc()). */
  async #call(args: readonly Arg[], options: CommandOptions, deadlineAtMs = monoNowMs() + deadlineOption(options.deadlineMs, this.#options.deadlineMs)): Promise<Reply> {
    await this.#gate.enter(deadlineAtMs);
    try {
      return await this.#retryLoop(encodeRequest(args), options, deadlineAtMs);
    } finally {
      this.#gate.leave();
    }
  }

  async #retryLoop(bytes: Buffer, options: CommandOptions, deadlineAtMs: number): Promise<Reply> {
    const readOnly = options.readOnly === true;
    const idempotent = readOnly || options.idempotent === true;
    let routerIndex = this.#pool.preferred;
    let mayHaveApplied = false;
    for (let attempt = 1; ; attempt++) {
      const result = await this.#attempt(routerIndex, bytes, deadlineAtMs);
      if (result.kind === 'reply' && result.reply.kind !== 'error') return result.reply;
      const failure = failureOf(result);
      const verdict: Verdict = mayHaveApplied && isFeatureOff(failure) ? ASK_AGAIN : judge(failure, idempotent);
      mayHaveApplied ||= verdict.mayHaveApplied && !readOnly;
      if (this.#abort.signal.aborted) throw this.#giveUp(failure, mayHaveApplied, attempt, options, 'closed');
      if (!verdict.retry) throw this.#giveUp(failure, mayHaveApplied, attempt, options, 'final');
      if (monoNowMs() >= deadlineAtMs) throw this.#giveUp(failure, mayHaveApplied, attempt, options, 'deadline');
      const failedIndex = routerIndex;
      if (verdict.failover) routerIndex = this.#pool.nextAfter(failedIndex, verdict.hint);
      if (failure.kind !== 'reply') this.#pool.markDown(failedIndex);
      else if (verdict.hint !== null) this.#pool.prefer(routerIndex);
      const delayMs = backoffDelayMs(attempt - 1, this.#options.backoffBaseMs, this.#options.backoffMaxMs, this.#options.random);
      if (monoNowMs() + delayMs >= deadlineAtMs) throw this.#giveUp(failure, mayHaveApplied, attempt, options, 'deadline');
      try {
        await sleep(delayMs, undefined, { signal: this.#abort.signal });
      } catch {
        throw this.#giveUp(failure, mayHaveApplied, attempt, options, 'closed');
      }
    }
  }

  /** One attempt on one router, bounded by the call's deadline. */
  #attempt(
    routerIndex: number,
    bytes: Buffer,
    deadlineAtMs: number,
  ): Promise<AttemptResult> {
    return new Promise((resolve) => {
      let settled = false;
      const connection = this.#pool.connection(routerIndex);
      const ticket = connection.send({
        bytes,
        onReply: (reply) => settle({ kind: 'reply', reply }),
        onFailure: (failure) => settle({ kind: 'failure', failure }),
      });
      const timer = setTimeout(() => {
        ticket.cancel();
        const error = new ClientError(ClientErrorCode.TIMEOUT, 'call deadline passed');
        settle({ kind: 'failure', failure: { kind: ticket.written ? 'lost' : 'unsent', error } });
      }, Math.max(0, deadlineAtMs - monoNowMs()));
      function settle(result: AttemptResult): void {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      }
    });
  }

  #giveUp(
    failure: AttemptFailure,
    mayHaveApplied: boolean,
    attempts: number,
    options: CommandOptions,
    why: 'final' | 'deadline' | 'closed',
  ): Error {
    const expired = failure.kind === 'reply' && isTokenExpired(failure.word, failure.message);
    const serverCode = expired ? ClientErrorCode.TOKEN_EXPIRED : ClientErrorCode.SERVER;
    // After an attempt that may have applied, no final error of a retry proves it did not (had it
    // applied, the retry would have got its original reply): the outcome stays unknown, with the
    // token. Reported as a refusal, the number it took was a gap the caller never saw (a review).
    if (why === 'final' && failure.kind === 'reply' && !RETRYABLE_WORDS.has(failure.word) && !mayHaveApplied) {
      return new ServerError(failure.word, failure.message, serverCode, attempts);
    }
    const cause = failure.kind === 'reply' ? new ServerError(failure.word, failure.message, serverCode) : failure.error;
    if (mayHaveApplied) {
      const retryHint = options.token === undefined ? '' : expired
        ? `; ${FORGOTTEN_TOKEN_ADVICE}`
        : `; retry with token ${options.token}`;
      return new OutcomeUnknownError(
        `outcome unknown after ${attempts} attempt(s) (${describe(cause)})${retryHint}`,
        options.token,
        attempts,
        cause,
      );
    }
    if (why === 'closed') return new ClientError(ClientErrorCode.CLOSED, 'client closed', { cause });
    return new TimeoutError(`deadline passed after ${attempts} attempt(s), not applied (${describe(cause)})`, attempts, cause);
  }
}

type AttemptResult = { kind: 'reply'; reply: Reply } | { kind: 'failure'; failure: AttemptFailure };

/** An error reply or a transport failure, as one AttemptFailure (call only when not a success). */
function failureOf(result: AttemptResult): AttemptFailure {
  if (result.kind === 'failure') return result.failure;
  if (result.reply.kind !== 'error') throw new Error('failureOf called on a successful reply');
  return { kind: 'reply', word: result.reply.word, message: result.reply.message };
}

/**
 * A block token (`...~k`, shared/protocol/part-token.ts) is shared by k merged calls: used alone
 * it would let them share one number, so only COUNT k or a part of k goes with it.
 */
function checkBlockToken(token: string, options: IncOptions): void {
  const multi = multiTokenCount(Buffer.from(token));
  const k = multi ?? blockTokenCount(Buffer.from(token));
  if (k === undefined) return;
  // An INCS token (`+k`) names parts only; a COUNT block token (`~k`) also the block itself.
  const ok = options.part !== undefined ? options.part.count === k : multi === undefined && (options.count ?? 1) === k;
  if (!ok) throw invalidArgument(`id ${token} is the token of a block of ${k}: retry with its part ({ id, part: { index, count: ${k} } })`);
}

/** `<index>/<count>` of a valid part; a COUNT beside it may only be 1 (a part is one number). */
function checkPart(part: BlockPart, count: number | undefined): string {
  const text = `${part?.index}/${part?.count}`;
  try {
    parsePart(Buffer.from(text)); // the server's own rule
  } catch (err) {
    throw invalidArgument(`part: ${(err as Error).message}`);
  }
  if (count !== undefined && count !== 1) throw invalidArgument('a part is one number: count must be 1 or absent');
  return text;
}

function closedError(): ClientError {
  return new ClientError(ClientErrorCode.CLOSED, 'client closed');
}

/**
 * FEATUREOFF refuses a command before its token is looked at: after an attempt that may have
 * applied it says nothing about that attempt, so the call asks again (the shard turns the feature
 * on within seconds) and, at its deadline, reports the outcome unknown with its token.
 */
const ASK_AGAIN: Verdict = { retry: true, mayHaveApplied: false, failover: false, hint: null };

function isFeatureOff(failure: AttemptFailure): boolean {
  return failure.kind === 'reply' && failure.word === 'FEATUREOFF';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function expectInteger(reply: Reply, command: string): bigint {
  if (reply.kind === 'integer') return reply.value;
  throw new ClientError(ClientErrorCode.PROTOCOL, `unexpected ${reply.kind} reply to ${command}`);
}

function expectString(reply: Reply, command: string): string {
  if (reply.kind === 'string') return reply.value.toString('utf8');
  throw new ClientError(ClientErrorCode.PROTOCOL, `unexpected ${reply.kind} reply to ${command}`);
}
