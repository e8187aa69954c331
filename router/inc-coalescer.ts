/**
 * Merges concurrent plain INCs of one bucket into one block: the k INCs (no ID, no COUNT) of one
 * bucket that reach the router in one poll phase leave as ONE command, and its k numbers go back
 * to the k callers in the order their INCs came: `INC bucket sequence COUNT k ID <router token>`
 * when all are of one sequence, else `INCS bucket <token> seq1 .. seqk` (one number of each
 * listed sequence, node/state-machine/multi-inc.ts; at most INCS_SEQUENCES_MAX). The shard then
 * decodes, logs, replicates and applies one command and stores one token record instead of k;
 * each client still gets one number of its own, with no gap and no repeat.
 *
 * Why it keeps what each client sees:
 * - The k INCs were all outstanding at once, so any order among them is a valid linearization;
 *   numbers are handed out in arrival order, so one connection's pipelined INCs still ascend.
 * - Per bucket, commands leave in arrival order: a bucket has at most one open block, and any
 *   other command of that bucket (GET, SET, an INC with ID) first sends the open block
 *   (`closeBucket`). Only later commands of other buckets can overtake it; no
 *   order between buckets is promised (they may live on different shards).
 * - Retries resend the same block with the same token (exactly-once on the node). If the router
 *   gives up with the outcome unknown, member i is told to retry with `ID <token> PART <i>/<k>`
 *   (shared/protocol/part-token.ts). For a COUNT block that retry takes or finds the whole block
 *   and answers number i (so one member's retry takes all k numbers: members that never retry
 *   leave theirs unused); for an INCS it finds part i or takes that part alone, and the block
 *   skips it if it applies later.
 * - The block's token is a block token (`<ms>-<16 chars>~<k>`, or `+<k>` for INCS; part-token.ts)
 *   which the shard accepts only with the block or PART i/k: k clients that all retried
 *   `ID <token>` alone would otherwise share the one number the first of them took.
 * - A shard that does not know INCS (an older version during an upgrade) refuses it as an unknown
 *   command (or, beyond 13 sequences, for its 16-argument limit), so nothing was taken: its INCs
 *   go again one at a time as below (or, if a later command of the bucket already went out, get
 *   TRYAGAIN), and for a minute this router merges only INCs of one sequence. A leader of this
 *   version refuses INCS the same way (FEATUREOFF) while any member of its shard is not known
 *   to apply one (an older FOLLOWER would stop at the entry; node/replication/peer-features.ts);
 *   that pause is 2 s, as the shard turns INCS on by itself once it has heard from every member.
 * - A block refused for OVERFLOW (near the maximum value) at its first try is sent again one INC
 *   at a time, so each client gets what it would have got without merging (the numbers left
 *   below the maximum still go out), unless another command of the bucket went out meanwhile:
 *   re-sent after it, the INCs would run out of their order, so then every member gets the
 *   error (an INC may then be refused although a few numbers remain; nothing is taken or
 *   skipped). Other errors go to every member as they are.
 */
import { ErrorCode } from '../shared/errors.ts';
import { errorResult, intResult, type Command, type CommandResult, type IncCommand, type IncsCommand } from '../node/state-machine/command.ts';
import { INCS_SEQUENCES_MAX, blockToken, multiToken, partRetry, partValue } from '../shared/protocol/part-token.ts';
import { routerToken } from './token.ts';
import { monoNowMs } from '../shared/mono-clock.ts';
import { bytesEqual } from '../shared/bytes-equal.ts';

/** What forwarding one command ended with. */
export interface Forwarded {
  readonly result: CommandResult;
  /**
   * Set when the router gave up after an attempt that may have applied: what to retry with
   * (`ID <token>`, or `ID <token> PART <i>/<k>` for one number of a block).
   */
  readonly retryWith?: string;
  /** An earlier attempt may have applied (the result is a later attempt's answer). */
  readonly mayHaveApplied?: boolean;
}

export interface CoalescerStats {
  /** Blocks of two or more INCs sent. */
  blocks: number;
  /** INCs that went out inside such blocks. */
  blockIncs: number;
  /** Of those blocks, the INCS (several sequences). */
  incsBlocks: number;
}

export interface CoalescerOptions {
  /** Most INCs in one block of one sequence (2..BLOCK_PARTS_MAX). */
  readonly blockMax: number;
  /** Most INCs in one INCS block of several sequences (0 or 1: off; at most INCS_SEQUENCES_MAX). */
  readonly incsMax: number;
  readonly stats: CoalescerStats;
}

/** How long a router sends no INCS after a shard refused one as unknown (an upgrade under way). */
const INCS_REFUSED_PAUSE_MS = 60_000;
/**
 * ... or with FEATURE_OFF (a new leader that has not heard from every member yet, or one member
 * still older): the shard turns INCS on by itself within seconds, so ask again soon.
 */
const INCS_OFF_PAUSE_MS = 2_000;

interface Member {
  readonly sequence: Buffer;
  readonly settle: (out: Forwarded) => void;
}

interface Flight {
  overtaken: boolean;
}

interface Block {
  readonly bucketKey: string;
  readonly bucket: Buffer;
  readonly members: Member[];
  /** Members of more than one sequence: the block goes as INCS. */
  mixed: boolean;
}

export class IncCoalescer {
  /** The open block of each bucket, by the bucket's bytes as latin1. */
  private readonly open = new Map<string, Block>();
  /** Blocks sent and not settled, per bucket: whether a later command of the bucket went out. */
  private readonly inFlight = new Map<string, Set<Flight>>();
  private flushScheduled = false;
  /** The block an INC last joined or opened (it may have left since: checked against `open`). */
  private last: Block | undefined;
  private readonly incsMax: number;
  private incsRefusedUntilMs = 0;

  /**
   * @param forward sends one command with the router's retries (never rejects in practice).
   * @param sent called after a flush sent its blocks, so they can leave in this loop turn.
   */
  constructor(
    private readonly forward: (command: Command) => Promise<Forwarded>,
    private readonly sent: () => void,
    private readonly options: CoalescerOptions,
  ) {
    this.incsMax = Math.min(options.incsMax, options.blockMax, INCS_SEQUENCES_MAX);
  }

  /** A plain INC of one number: what may join a block. */
  static mergeable(command: Command): command is IncCommand {
    return command.type === 'inc' && command.token === undefined && command.count === 1;
  }

  /** Adds a mergeable INC to its bucket's block; settles with this INC's own number. */
  submit(command: IncCommand): Promise<Forwarded> {
    return new Promise<Forwarded>((settle) => this.join(command, settle));
  }

  /**
   * submit() without a promise: `settle` gets this INC's outcome, exactly once, never now. The
   * command's buffers may be views of a client's bytes: a block copies its bucket and each
   * sequence it has not got yet, so the INCs of a hot sequence copy nothing (a router's INC cost
   * was mostly allocations; a view kept would pin the client's whole socket chunk).
   */
  join(command: IncCommand, settle: Member['settle']): void {
    const block = this.openBlock(command.bucket);
    if (block !== undefined) {
      const sequence = this.joins(block, command.sequence);
      if (sequence !== null) {
        block.members.push({ sequence, settle });
        return;
      }
      this.dispatch(block);
    }
    const bucket = Buffer.from(command.bucket);
    const bucketKey = bucket.toString('latin1');
    const opened: Block = { bucketKey, bucket, members: [{ sequence: Buffer.from(command.sequence), settle }], mixed: false };
    this.open.set(bucketKey, opened);
    this.last = opened;
    this.schedule();
  }

  /** The bucket's open block: most INCs are of the bucket of the one before (no key string made). */
  private openBlock(bucket: Buffer): Block | undefined {
    const last = this.last;
    if (last !== undefined && this.open.get(last.bucketKey) === last && bytesEqual(last.bucket, bucket)) return last;
    if (this.open.size === 0) return undefined;
    const block = this.open.get(bucket.toString('latin1'));
    if (block !== undefined) this.last = block;
    return block;
  }

  /**
   * Whether an INC of `sequence` may join `block` (marking it mixed if it makes it so): the
   * member's own copy of the sequence if so (the block's first when equal), else null.
   */
  private joins(block: Block, sequence: Buffer): Buffer | null {
    const size = block.members.length;
    const first = block.members[0]!.sequence;
    if (!block.mixed && bytesEqual(first, sequence)) return size < this.options.blockMax ? first : null;
    if (size >= this.incsMax || monoNowMs() < this.incsRefusedUntilMs) return null;
    block.mixed = true;
    return Buffer.from(sequence);
  }

  /** Sends the bucket's open block now: call before any other command of that bucket is sent. */
  closeBucket(bucket: Buffer): void {
    if (this.open.size === 0 && this.inFlight.size === 0) return;
    const bucketKey = bucket.toString('latin1');
    const block = this.open.get(bucketKey);
    if (block !== undefined) this.dispatch(block);
    this.overtake(bucketKey);
  }

  /** Blocks wait for the end of the poll phase, when the INCs of every client read in it are in. */
  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.open.size === 0) return;
      for (const block of [...this.open.values()]) this.dispatch(block);
      this.sent();
    });
  }

  private dispatch(block: Block): void {
    const { bucketKey, members } = block;
    this.open.delete(bucketKey);
    if (this.last === block) this.last = undefined;
    this.overtake(bucketKey);
    if (members.length === 1) {
      this.send(single(block.bucket, members[0]!), members[0]!.settle);
      return;
    }
    this.options.stats.blocks++;
    this.options.stats.blockIncs += members.length;
    const command = blockCommand(block);
    if (command.type === 'incs') this.options.stats.incsBlocks++;
    const flight: Flight = { overtaken: false };
    let flights = this.inFlight.get(bucketKey);
    if (flights === undefined) this.inFlight.set(bucketKey, (flights = new Set()));
    flights.add(flight);
    this.send(command, (out) => {
      flights.delete(flight);
      if (flights.size === 0 && this.inFlight.get(bucketKey) === flights) this.inFlight.delete(bucketKey);
      this.settle(command, block, out, flight.overtaken);
    });
  }

  /** A command of the bucket is going out: blocks in flight can no longer be re-sent in their place. */
  private overtake(bucketKey: string): void {
    const flights = this.inFlight.get(bucketKey);
    if (flights !== undefined) for (const flight of flights) flight.overtaken = true;
  }

  private settle(command: IncCommand | IncsCommand, block: Block, out: Forwarded, overtaken: boolean): void {
    const { result } = out;
    const { members } = block;
    const count = members.length;
    const values = numbersOf(result, count);
    if (values !== null) {
      members.forEach((m, i) => m.settle({ result: intResult(values(i)) }));
    } else if (out.retryWith !== undefined) {
      members.forEach((m, i) => m.settle({ result, retryWith: partRetry(command.token!, i, count) }));
    } else if (result.type === 'error' && notTaken(command, result) && !out.mayHaveApplied && !overtaken) {
      // Certainly not applied, and nothing of the bucket went out after it: one at a time in its
      // place (the numbers left below the maximum still go out).
      if (incsRefused(command, result)) this.pauseIncs(result);
      for (const m of members) this.send(single(block.bucket, m), m.settle);
    } else if (result.type === 'error' && incsRefused(command, result)) {
      // An older node, and a later command of the bucket already went out (or an earlier attempt
      // may have applied): the INCs cannot go again in their place. No more INCS for a while.
      this.pauseIncs(result);
      const refused = out.mayHaveApplied ? out : { result: errorResult(ErrorCode.TRY_AGAIN, 'the shard refused INCS (an upgrade under way): nothing was taken, retry') };
      for (const m of members) m.settle(refused);
    } else {
      for (const m of members) m.settle(out);
    }
  }

  private pauseIncs(refusal: Extract<CommandResult, { type: 'error' }>): void {
    this.incsRefusedUntilMs = monoNowMs() + (refusal.code === ErrorCode.FEATURE_OFF ? INCS_OFF_PAUSE_MS : INCS_REFUSED_PAUSE_MS);
  }

  private send(command: IncCommand | IncsCommand, settle: Member['settle']): void {
    this.forward(command).then(settle, (err: unknown) => settle({ result: internal(err) }));
  }
}

function single(bucket: Buffer, member: Member): IncCommand {
  return { type: 'inc', bucket, sequence: member.sequence, count: 1 };
}

/** `INC ... COUNT k ID <block token>` for one sequence, `INCS bucket <token> seq..` for several. */
function blockCommand(block: Block): IncCommand | IncsCommand {
  const { bucket, members } = block;
  const timed = routerToken().toString('latin1');
  if (!block.mixed) {
    const token = Buffer.from(blockToken(timed, members.length), 'latin1');
    return { type: 'inc', bucket, sequence: members[0]!.sequence, count: members.length, token };
  }
  const token = Buffer.from(multiToken(timed, members.length), 'latin1');
  return { type: 'incs', bucket, sequences: members.map((m) => m.sequence), token };
}

/** Member i's number from a block's success (the last of a COUNT block, or INCS's array), else null. */
function numbersOf(result: CommandResult, count: number): ((i: number) => bigint) | null {
  if (result.type === 'int') return (i) => partValue(result.value, count, i);
  if (result.type === 'array' && result.value.length === count && result.value.every((v) => typeof v === 'bigint')) {
    return (i) => result.value[i] as bigint;
  }
  return null;
}

/**
 * The shard's refusals that say nothing was taken and that the same INCs one at a time may do
 * better: overflow (passed on by the router as `-ERR increment would overflow`), and INCS unknown
 * to an older shard. Any other error (a cluster word, an expired token after a lost reply) goes
 * to every member as it is: re-sending could take numbers the block already took.
 */
function notTaken(command: IncCommand | IncsCommand, result: Extract<CommandResult, { type: 'error' }>): boolean {
  return incsRefused(command, result) || result.message.startsWith('increment would overflow');
}

/**
 * A shard refusing an INCS before running anything: an older leader (unknown command, or beyond
 * 13 sequences its request decoder's limit of 16 arguments; ERR-mapped codes reach the router as
 * ERR and a text, so they are told by the text), or a leader that will not run it yet because a
 * member may be older (FEATUREOFF, node/replication/peer-features.ts).
 */
export function incsRefused(command: Command, result: Extract<CommandResult, { type: 'error' }>): boolean {
  if (command.type !== 'incs') return false;
  return result.code === ErrorCode.FEATURE_OFF || result.message.startsWith('unknown command') || result.message.startsWith('too many arguments');
}

function internal(err: unknown): CommandResult {
  return errorResult(ErrorCode.INTERNAL, `router: ${err instanceof Error ? err.message : String(err)}`);
}
