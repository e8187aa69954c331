/**
 * Forwards one data command to the shard that owns its bucket, and keeps at it within a bounded
 * time: follows NOTLEADER hints, refreshes the map on MOVED (at most `redirectsMax`), backs off on
 * TRYAGAIN and while a shard has no leader, and retries after timeouts or lost connections.
 *
 * Retrying is safe because every INC and RESERVE (issue 12) carries an exactly-once token (the
 * client's ID or one made here) that is reused on every attempt; GET is a read. A SET is retried
 * only when it certainly did not apply (refused, or never sent): re-applying an old SET after later INCs would rewind
 * the sequence and repeat numbers, so an unknown SET outcome goes back to the client. When the
 * deadline passes the client gets -CLUSTERDOWN (for an INC whose outcome is unknown the message
 * names the token, so the client may retry it with `ID <token>`; likewise for a RESERVE).
 */
import { ErrorCode } from '../shared/errors.ts';
import { slotOf } from '../shared/placement/slot.ts';
import { codeForWireWord, type Reply } from '../shared/protocol/index.ts';
import { errorResult, type Command, type CommandResult, type IncCommand } from '../node/state-machine/command.ts';
import type { CatalogSource } from './catalog-source.ts';
import type { NodePool, SendOutcome } from './node-connection.ts';
import type { ShardEntry, ShardMap } from './shard-map.ts';
import { routerToken } from './token.ts';
import { IncCoalescer, incsRefused, type CoalescerStats, type Forwarded } from './inc-coalescer.ts';
import { BLOCK_PARTS_MAX, INCS_SEQUENCES_MAX, multiTokenCount, partRetry } from '../shared/protocol/part-token.ts';
import { isSeriesCommand } from '../node/state-machine/series-command.ts';
import { arrayReplyResult, seriesCommandArgs } from '../node/state-machine/series-wire.ts';
import { monoNowMs } from '../shared/mono-clock.ts';
import { withTimeout } from '../shared/with-timeout.ts';
import { BucketLanes } from './bucket-lanes.ts';

export interface ForwarderOptions {
  /** Total time one command may take, retries included, before -CLUSTERDOWN. Default 5000 ms. */
  readonly deadlineMs?: number;
  /** One attempt's timeout on a node. Default DEFAULT_ATTEMPT_TIMEOUT_MS (2000 ms). */
  readonly attemptTimeoutMs?: number;
  /** MOVED redirections followed per command. Default 16 (as ioredis). */
  readonly redirectsMax?: number;
  /** Pause before retrying TRYAGAIN / no-leader / BUSY. Default 100 ms. */
  readonly backoffMs?: number;
  /**
   * First pause after TRYAGAIN (a slot frozen by a move, issue 6), doubling per TRYAGAIN of the
   * same command up to `backoffMs`: moves are short, so the first retries come soon. Default 10 ms.
   */
  readonly tryAgainBackoffMs?: number;
  /**
   * Most concurrent plain INCs (no ID, COUNT 1) of one sequence merged into one `INC ... COUNT k
   * ID <token>` block (router/inc-coalescer.ts); 0 or 1 turns merging off. Default and most:
   * BLOCK_PARTS_MAX (1024).
   */
  readonly incBlockMax?: number;
  /**
   * Most concurrent plain INCs of different sequences of one bucket merged into one `INCS bucket
   * <token> seq1 .. seqk` (at most INCS_SEQUENCES_MAX, 60; also at most `incBlockMax`); 0 or 1
   * turns that off (INCs of one sequence still merge as above). Default INCS_SEQUENCES_MAX. Safe
   * in a cluster of mixed versions: an older leader refuses INCS as unknown, and a leader of this
   * version refuses it (FEATUREOFF) until every member of its shard is known to apply one; the
   * INCs then go one at a time (node/replication/peer-features.ts).
   */
  readonly incsMax?: number;
}

export const DEFAULT_ATTEMPT_TIMEOUT_MS = 2000;
/** A command's whole time, retries included (ForwarderOptions.deadlineMs). */
export const DEFAULT_DEADLINE_MS = 5000;

export interface ForwarderStats extends CoalescerStats {
  requests: number;
  errors: number;
  retries: number;
  redirects: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** How nodes of before the AMBIGUOUS and SHUTDOWN words said those (accepted during an upgrade). */
const OUTCOME_UNKNOWN_TEXT = /retry only with the same ID token/;
const SHUTTING_DOWN_TEXT = /shutting down/;
/** A node's TOKEN_EXPIRED (`-ERR ID token expired: ...`; ERR-mapped codes reach the router as text). */
const TOKEN_EXPIRED_TEXT = /^ID token expired\b/;
/** The shard a node fencing a command says it is (node/ownership/ownership.ts). */
const NOT_OWNED_BY = /not owned by shard (\S+)/;

export class Forwarder {
  readonly stats: ForwarderStats = { requests: 0, errors: 0, retries: 0, redirects: 0, blocks: 0, blockIncs: 0, incsBlocks: 0 };
  private readonly deadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly redirectsMax: number;
  private readonly backoffMs: number;
  private readonly tryAgainBackoffMs: number;
  private readonly coalescer: IncCoalescer | null;
  private readonly lanes = new BucketLanes();

  constructor(
    private readonly map: ShardMap,
    private readonly pool: NodePool,
    private readonly catalog: CatalogSource,
    options: ForwarderOptions = {},
  ) {
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.redirectsMax = options.redirectsMax ?? 16;
    this.backoffMs = options.backoffMs ?? 100;
    this.tryAgainBackoffMs = Math.min(options.tryAgainBackoffMs ?? 10, this.backoffMs);
    const blockMax = Math.min(options.incBlockMax ?? BLOCK_PARTS_MAX, BLOCK_PARTS_MAX);
    this.coalescer = blockMax < 2 ? null : new IncCoalescer((c) => this.forward(c), () => this.pool.flush(), {
      blockMax,
      incsMax: options.incsMax ?? INCS_SEQUENCES_MAX,
      stats: this.stats,
    });
  }

  /** Buckets with a command waiting to be retried, whose later commands wait for it (bucket-lanes.ts). */
  get bucketsRetrying(): number {
    return this.lanes.size;
  }

  async execute(command: Command): Promise<CommandResult> {
    this.stats.requests++;
    let out: Forwarded;
    if (this.coalescer !== null && IncCoalescer.mergeable(command)) {
      out = await this.coalescer.submit(command);
    } else {
      // Per bucket, commands leave in the order they came: an open block of this bucket goes first.
      if (command.type !== 'cluster') this.coalescer?.closeBucket(command.bucket);
      out = await this.forward(command);
    }
    // A client's part retry of an INCS is, to it, an INC.
    return this.finish(command.type === 'incs' && command.part !== undefined ? 'inc' : command.type, out);
  }

  /**
   * A plain INC without a promise hop (the server's engine.executeInc): its buffers are views of
   * the client's bytes, which the coalescer copies where it keeps them; `done` gets the result.
   */
  executeInc(command: IncCommand, done: (result: CommandResult) => void): void {
    if (this.coalescer === null) {
      const owned: IncCommand = { ...command, bucket: Buffer.from(command.bucket), sequence: Buffer.from(command.sequence) };
      void this.execute(owned).then(done);
      return;
    }
    this.stats.requests++;
    this.coalescer.join(command, (out) => done(this.finish('inc', out)));
  }

  private finish(label: Command['type'], out: Forwarded): CommandResult {
    const result = out.retryWith === undefined ? out.result : withRetryHint(out.result, label, out.retryWith);
    if (result.type === 'error') this.stats.errors++;
    return result;
  }

  /**
   * One command to its shard, retried within the deadline. A give-up after an attempt that may
   * have applied carries what the client may retry with (`retryWith`).
   */
  private async forward(command: Command): Promise<Forwarded> {
    if (command.type === 'cluster') return { result: errorResult(ErrorCode.UNKNOWN_COMMAND, "CLUSTER commands go to nodes, not routers") };
    const seq = this.lanes.arrive();
    try {
      return await this.forwardInLane(command, seq);
    } finally {
      this.lanes.release(command.bucket, seq);
    }
  }

  private async forwardInLane(command: Exclude<Command, { type: 'cluster' }>, seq: number): Promise<Forwarded> {
    const withToken = withRouterToken(command);
    const args = commandArgs(withToken);
    const slot = slotOf(command.bucket);
    const deadline = monoNowMs() + this.deadlineMs;
    // Refused, this command holds back later ones of its bucket until it goes out again (bucket-lanes.ts).
    const retrying = (): void => this.lanes.hold(command.bucket, seq);
    let redirects = 0;
    let lastProblem = 'no catalog yet';
    let mayHaveApplied = false;
    let tryAgains = 0;
    let unreachable = 0;
    for (let attempt = 0; monoNowMs() < deadline; attempt++) {
      const behind = this.lanes.turn(command.bucket, seq, deadline, monoNowMs);
      // Released right behind an earlier command of the bucket: go where it went (with no leader
      // known, the two went to different members, and the later could run first: a review).
      let via: string | undefined;
      if (behind !== null) {
        via = await behind;
        if (monoNowMs() >= deadline) {
          lastProblem = 'an earlier command of the bucket was still waiting to be retried';
          break;
        }
      }
      if (attempt > 0) this.stats.retries++;
      const shard = this.map.ownerOf(slot);
      if (shard === null) {
        retrying();
        lastProblem = this.map.epoch === 0 ? 'the slot table is not initialized yet' : `slot ${slot} has no owner`;
        await Promise.race([this.catalog.refresh(), sleep(this.backoffMs)]);
        if (this.map.ownerOf(slot) === null) await sleep(this.backoffMs);
        continue;
      }
      const address = via !== undefined && shard.leader === null && shard.members.has(via) ? via : this.map.target(shard);
      if (address === null) {
        retrying();
        lastProblem = `shard ${shard.id} has no known address`;
        await sleep(this.backoffMs);
        void this.catalog.refresh();
        continue;
      }
      // An earlier command of the bucket still in flight to another node (the old leader) could be
      // overtaken here: wait for its answer (a review: a pipelined INC got a lower number than the
      // INC sent before it on its connection, after a read ahead of that one taught us the new leader).
      const elsewhere = this.lanes.elsewhere(command.bucket, seq, address);
      if (elsewhere !== null) {
        retrying();
        await withTimeout(elsewhere, Math.max(0, deadline - monoNowMs()));
        continue;
      }
      const timeout = Math.max(1, Math.min(this.attemptTimeoutMs, deadline - monoNowMs()));
      const sending = this.pool.send(address, args, timeout);
      this.lanes.sent(command.bucket, seq, address);
      this.lanes.release(command.bucket, seq, address);
      let out: SendOutcome;
      try {
        out = await sending;
      } finally {
        this.lanes.landed(command.bucket, seq);
      }
      if (!out.ok && out.why === 'busy') {
        // Nothing was sent: the connection to a leader that is only slow is full. Wait for it; going
        // elsewhere (a follower's NOTLEADER sends it back) only adds load (a review).
        retrying();
        lastProblem = `shard ${shard.id}: ${address} busy`;
        await sleep(this.backoffMs);
        continue;
      }
      if (!out.ok) {
        if (out.why === 'lost' || out.why === 'timeout') {
          // Re-sending a SET that did apply could rewind the sequence under later INCs: a repeat.
          if (command.type === 'set') return { result: errorResult(ErrorCode.OUTCOME_UNKNOWN, `shard ${shard.id}: connection ${out.why}; the SET may or may not have applied`) };
          mayHaveApplied = true;
        }
        retrying();
        lastProblem = `shard ${shard.id}: ${address} ${out.why}`;
        if (shard.leader === address) shard.leader = null;
        this.map.passOver(shard, address);
        // Once every member refused the connection, pause before dialing them again: without it
        // a shard that is all down was dialed thousands of times a second per command (a review).
        if (out.why === 'unreachable' && ++unreachable % Math.max(1, shard.members.size) === 0) await sleep(this.backoffMs);
        continue;
      }
      const step = this.judge(out.reply, shard, address, command);
      if (step.kind === 'done' && mayHaveApplied && step.result.type === 'error' && refusedUnlooked(command, step.result)) {
        // Refused before its token was looked at (an INCS unknown to an older leader or
        // FEATUREOFF; NOSPACE from a low disk): that says nothing of the earlier attempt that may
        // have applied. Ask again (a shard turns INCS on within seconds, space may be freed or
        // leadership move) rather than report a refusal as final; at the deadline the caller gets
        // the token (each its PART) to retry with (a review found NOSPACE reported as final).
        retrying();
        lastProblem = `shard ${shard.id}: ${address} ${step.result.message}`;
        await sleep(this.backoffMs);
        continue;
      }
      if (step.kind === 'done' && mayHaveApplied && step.result.type === 'error' && TOKEN_EXPIRED_TEXT.test(step.result.message)) {
        // The earlier attempt may have taken a number, and its token was forgotten since (the
        // count bound): no retry can find it. "Expired" would read as "nothing taken" (to a
        // client that sent no token at all, a router-made one): the outcome is unknown.
        return { result: errorResult(ErrorCode.OUTCOME_UNKNOWN, `an earlier attempt may have applied and the shard no longer remembers its ID token (${step.result.message}): the outcome is unknown; read the sequence to see`), mayHaveApplied };
      }
      if (step.kind === 'done') return mayHaveApplied ? { result: step.result, mayHaveApplied } : { result: step.result };
      retrying();
      lastProblem = step.problem;
      if (step.kind === 'wait' || step.kind === 'retry' || step.kind === 'unknown') this.map.passOver(shard, address);
      if (step.kind === 'moved') {
        if (++redirects > this.redirectsMax) break;
        this.stats.redirects++;
        // Within the deadline: a slow catalog leader held a MOVED request for seconds (a review).
        await withTimeout(this.catalog.refresh(), Math.max(0, deadline - monoNowMs()));
      } else if (step.kind === 'unknown') {
        mayHaveApplied = true;
      } else if (step.kind === 'wait') {
        await sleep(this.backoffMs);
      } else if (step.kind === 'tryagain') {
        await sleep(Math.min(this.backoffMs, this.tryAgainBackoffMs * 2 ** Math.min(tryAgains++, 16)));
      }
    }
    const result = errorResult(ErrorCode.CLUSTER_DOWN, `no answer within ${this.deadlineMs} ms (${lastProblem})`);
    return isTokened(withToken) && mayHaveApplied ? { result, retryWith: retryWithOf(withToken) } : { result };
  }

  /**
   * The write may or may not have applied. With a token (every INC and RESERVE here) the retry is
   * exactly-once; a SET is not retried (see run()) and its client gets the AMBIGUOUS reply.
   */
  private ambiguous(reply: Reply, shard: ShardEntry, address: string, command: Command, problem: string): Step {
    if (!isTokened(command)) return { kind: 'done', result: toResult(reply) };
    if (shard.leader === address) shard.leader = null;
    return { kind: 'unknown', problem };
  }

  private judge(reply: Reply, shard: ShardEntry, address: string, command: Command): Step {
    if (reply.kind !== 'error' || reply.word !== 'NOTLEADER') {
      // Whoever answered other than NOTLEADER is (or just was) the leader: remember it.
      if (shard.leader === null) shard.leader = address;
    }
    if (reply.kind !== 'error') return { kind: 'done', result: toResult(reply) };
    const problem = `${reply.word} ${reply.message}`;
    switch (reply.word) {
      case 'NOTLEADER': {
        const [of, hint] = reply.message.split(' ');
        // A node of another shard at this shard's address (reused after a node died): not ours.
        if (of !== undefined && of !== shard.id) {
          this.map.passOver(shard, address);
          this.map.dropMember(shard, address);
          return { kind: 'wait', problem };
        }
        shard.leader = hint !== undefined && hint !== '?' && hint !== address ? hint : null;
        if (shard.leader !== null) this.map.addMember(shard, shard.leader);
        return shard.leader === null ? { kind: 'wait', problem } : { kind: 'retry', problem };
      }
      case 'MOVED': {
        // Fenced by a node that says it is of another shard: that address is not this shard's.
        const owner = NOT_OWNED_BY.exec(reply.message)?.[1];
        if (owner !== undefined && owner !== shard.id) {
          // Off it first: the catalog refresh that follows may list the address again at the
          // same position, under an unchanged cursor (sticky target(); a review).
          this.map.passOver(shard, address);
          this.map.dropMember(shard, address);
        }
        return { kind: 'moved', problem };
      }
      case 'TRYAGAIN':
        return { kind: 'tryagain', problem };
      case 'BUSY':
        return { kind: 'wait', problem };
      case 'AMBIGUOUS':
        return this.ambiguous(reply, shard, address, command, problem);
      case 'SHUTDOWN':
        if (shard.leader === address) shard.leader = null;
        return { kind: 'wait', problem };
      case 'ERR':
        // Nodes of before the SHUTDOWN and AMBIGUOUS words (during an upgrade) said them in the text.
        if (SHUTTING_DOWN_TEXT.test(reply.message)) {
          if (shard.leader === address) shard.leader = null;
          return { kind: 'wait', problem };
        }
        if (OUTCOME_UNKNOWN_TEXT.test(reply.message)) return this.ambiguous(reply, shard, address, command, problem);
        return { kind: 'done', result: toResult(reply) };
      default:
        return { kind: 'done', result: toResult(reply) };
    }
  }
}

/** A refusal that came before the command's token was looked at (so it says nothing of earlier attempts): also a RESERVE's FEATUREOFF during an upgrade. */
function refusedUnlooked(command: Command, result: Extract<CommandResult, { type: 'error' }>): boolean {
  return incsRefused(command, result) || (isTokened(command) && (result.code === ErrorCode.NO_SPACE || result.code === ErrorCode.FEATURE_OFF));
}

type Tokened = Extract<Command, { type: 'inc' } | { type: 'incs' } | { type: 'reserve' }>;

/** Commands that take an exactly-once ID token, so the router can retry them after a lost reply. */
function isTokened(command: Command): command is Tokened {
  return command.type === 'inc' || command.type === 'incs' || command.type === 'reserve';
}

/** INC and RESERVE without a client ID get a router token, reused on every attempt. */
function withRouterToken(command: Command): Command {
  return isTokened(command) && command.token === undefined ? { ...command, token: routerToken() } : command;
}

/** What a client retries an unknown outcome with: its ID, and PART for one number of a block. */
function retryWithOf(command: Tokened): string {
  const token = command.token!;
  if (command.type === 'inc' && command.part !== undefined) return partRetry(token, command.part, command.count);
  if (command.type === 'incs') return command.part === undefined ? `the same INCS` : partRetry(token, command.part, multiTokenCount(token)!);
  // An INC of a block: the retry must name the same COUNT (alone, the token takes one number).
  if (command.type === 'inc' && command.count > 1) return `ID ${token.toString('latin1')} COUNT ${command.count}`;
  return `ID ${token.toString('latin1')}`;
}

function withRetryHint(result: CommandResult, type: Command['type'], retryWith: string): CommandResult {
  if (result.type !== 'error') return result;
  return errorResult(result.code, `${result.message}; the ${type.toUpperCase()} may have applied: retry with ${retryWith}`);
}

type Step =
  | { kind: 'done'; result: CommandResult }
  | { kind: 'retry' | 'wait' | 'tryagain' | 'moved' | 'unknown'; problem: string };

/** A node's reply as a result the router's server re-encodes byte-identically. */
function toResult(reply: Reply): CommandResult {
  switch (reply.kind) {
    case 'integer':
      return { type: 'int', value: reply.value };
    case 'null':
      return { type: 'nil' };
    case 'string':
      return reply.value.toString('latin1') === 'OK' ? { type: 'ok' } : { type: 'bulk', value: reply.value };
    case 'error':
      // Words other than MOVED/TRYAGAIN/CLUSTERDOWN/BUSY/NOTLEADER are ERR: any ERR-mapped code re-encodes alike.
      return errorResult(codeForWireWord(reply.word) ?? ErrorCode.INTERNAL, reply.message);
    case 'array':
      return arrayReplyResult(reply); // AUDIT, SEQ.INFO, SEQ.LIST (issue 12)
  }
}

function commandArgs(command: Command): Buffer[] {
  if (command.type === 'cluster') throw new Error('unreachable');
  const name = Buffer.from(command.type.toUpperCase());
  if (command.type === 'get') return [name, command.bucket, command.sequence];
  if (command.type === 'set') return [name, command.bucket, command.sequence, Buffer.from(String(command.value))];
  if (isSeriesCommand(command)) return seriesCommandArgs(command); // issue 12
  if (command.type === 'incs') return incsArgs(command);
  const args = [name, command.bucket, command.sequence, Buffer.from('COUNT'), Buffer.from(String(command.count))];
  if (command.token !== undefined) args.push(Buffer.from('ID'), command.token);
  return args;
}

/** An INCS, or the retry of one of its parts (`INC bucket sequence ID <token> PART i/k`). */
function incsArgs(command: Extract<Command, { type: 'incs' }>): Buffer[] {
  if (command.part === undefined) return [Buffer.from('INCS'), command.bucket, command.token, ...command.sequences];
  const part = `${command.part}/${multiTokenCount(command.token)!}`;
  return [Buffer.from('INC'), command.bucket, command.sequences[0]!, Buffer.from('ID'), command.token, Buffer.from('PART'), Buffer.from(part)];
}
