/**
 * ClientOptions.mergeIncs: the inc() calls of one bucket (no `id`, `count` 1) that this client
 * receives in one turn of the event loop leave as ONE command, and the k numbers go back in call
 * order: `INC bucket sequence COUNT k ID <token>` when they are all of one sequence, else `INCS
 * bucket <token> seq1 .. seqk` (one number of each, at most INCS_SEQUENCES_MAX). The shard logs,
 * replicates and applies one command and remembers one token instead of k; each caller still
 * gets one number of its own.
 *
 * Why it is safe:
 * - The k calls were all in progress at once, so any order among them is valid.
 * - The block is retried with its one token (across routers too), so it applies once. The token
 *   is a block token (`<ms>-<16 chars>~<k>`, or `+<k>` for INCS; shared/protocol/part-token.ts)
 *   that servers accept only with the block or PART i/k (and this client refuses otherwise too):
 *   k callers retrying it alone would otherwise share the one number the first of them took.
 * - If its outcome stays unknown, caller i gets ERR_OUTCOME_UNKNOWN with the token and `part`
 *   {i, k}: `inc(b, s, { id: token, part })` answers number i. For a COUNT block it takes the
 *   whole block if it never applied (so callers that never retry leave theirs unused); for an
 *   INCS it takes part i alone, and the INCS skips that part if it applies later.
 * - Only an overflow refusal of the block's first attempt is re-sent one call at a time (nothing
 *   was applied, and alone some calls may still get a number), as is an INCS refused as unknown by
 *   an older server (then this client sends no INCS for a minute) or as FEATUREOFF by a shard
 *   with a member that may be older (then for 2 s); any other error reaches every caller as it is.
 * - A block's deadline is the earliest of its callers', counted from their inc() calls.
 */
import { ClientError, ClientErrorCode, FORGOTTEN_TOKEN_ADVICE, OutcomeUnknownError, ServerError } from './errors.ts';
import { timedToken } from './token.ts';
import type { Name } from './validate.ts';
import { BLOCK_PARTS_MAX, INCS_SEQUENCES_MAX, blockToken, multiToken, partValue, type Part } from '../shared/protocol/part-token.ts';
import { monoNowMs } from '../shared/mono-clock.ts';

/** Which number (`index`, 0 = first) of a block of `count` a merged call was. */
export type BlockPart = Part;

/** How long no INCS is sent after a server refused one as unknown (an upgrade under way). */
const INCS_REFUSED_PAUSE_MS = 60_000;
/** ... or as FEATUREOFF (a shard that turns INCS on by itself once every member can apply one). */
const INCS_OFF_PAUSE_MS = 2_000;

interface Member {
  readonly sequence: Name;
  readonly deadlineAtMs: number;
  readonly resolve: (value: bigint) => void;
  readonly reject: (err: unknown) => void;
}

interface Group {
  readonly key: string;
  readonly bucket: Name;
  readonly members: Member[];
  /** Members of more than one sequence: the group goes as INCS. */
  mixed: boolean;
}

export interface MergerDeps {
  /** `INC bucket sequence COUNT count ID token` with the client's retries until `deadlineAtMs`. */
  readonly block: (bucket: Name, sequence: Name, count: number, token: string, deadlineAtMs: number) => Promise<bigint>;
  /** `INCS bucket token seq..` with the client's retries until `deadlineAtMs`: each part's number. */
  readonly incs: (bucket: Name, sequences: readonly Name[], token: string, deadlineAtMs: number) => Promise<bigint[]>;
  /** One plain inc() as without merging, until `deadlineAtMs`. */
  readonly single: (bucket: Name, sequence: Name, deadlineAtMs: number) => Promise<bigint>;
  /** Calls held by the merger (waiting for their block, or in it) beyond which inc() fails with ERR_QUEUE_FULL. */
  readonly membersMax: number;
}

export class IncMerger {
  readonly #open = new Map<string, Group>();
  #scheduled = false;
  /** Calls added and not settled yet. */
  #members = 0;
  #incsRefusedUntilMs = 0;

  constructor(private readonly deps: MergerDeps) {}

  /** Joins this call to its bucket's open block. */
  add(bucket: Name, sequence: Name, deadlineAtMs: number): Promise<bigint> {
    if (this.#members >= this.deps.membersMax) {
      return Promise.reject(new ClientError(ClientErrorCode.QUEUE_FULL, `${this.#members} merged calls in progress`));
    }
    const key = bytesKey(bucket);
    let group = this.#open.get(key);
    if (group !== undefined && !this.#joins(group, sequence)) {
      this.#dispatch(group);
      group = undefined;
    }
    if (group === undefined) {
      group = { key, bucket, members: [], mixed: false };
      this.#open.set(key, group);
      this.#schedule();
    }
    const members = group.members;
    this.#members++;
    return new Promise<bigint>((resolve, reject) => members.push({ sequence, deadlineAtMs, resolve, reject })).finally(() => this.#members--);
  }

  /** Sends every open block now (close() lets calls already made go out before the gate closes). */
  flush(): void {
    for (const group of [...this.#open.values()]) this.#dispatch(group);
  }

  /** Whether a call of `sequence` may join `group` (and marks it mixed if it makes it so). */
  #joins(group: Group, sequence: Name): boolean {
    const size = group.members.length;
    if (!group.mixed && bytesKey(group.members[0]!.sequence) === bytesKey(sequence)) return size < BLOCK_PARTS_MAX;
    if (size >= INCS_SEQUENCES_MAX || monoNowMs() < this.#incsRefusedUntilMs) return false;
    group.mixed = true;
    return true;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  #dispatch(group: Group): void {
    if (this.#open.get(group.key) === group) this.#open.delete(group.key);
    const { bucket, members } = group;
    try {
      if (members.length === 1) {
        const m = members[0]!;
        this.deps.single(bucket, m.sequence, m.deadlineAtMs).then(m.resolve, m.reject);
        return;
      }
      const count = members.length;
      const deadlineAtMs = Math.min(...members.map((m) => m.deadlineAtMs));
      if (group.mixed) {
        const token = multiToken(timedToken(), count);
        this.deps.incs(bucket, members.map((m) => m.sequence), token, deadlineAtMs).then(
          (values) => members.forEach((m, i) => m.resolve(values[i]!)),
          (err: unknown) => this.#failed(group, token, err),
        );
        return;
      }
      const token = blockToken(timedToken(), count);
      this.deps.block(bucket, members[0]!.sequence, count, token, deadlineAtMs).then(
        (last) => members.forEach((m, i) => m.resolve(partValue(last, count, i))),
        (err: unknown) => this.#failed(group, token, err),
      );
    } catch (err) {
      for (const m of members) m.reject(err);
    }
  }

  #pauseIncs(err: ServerError): void {
    this.#incsRefusedUntilMs = monoNowMs() + (err.serverCode === 'FEATUREOFF' ? INCS_OFF_PAUSE_MS : INCS_REFUSED_PAUSE_MS);
  }

  #failed(group: Group, token: string, err: unknown): void {
    const { bucket, members } = group;
    const count = members.length;
    if (err instanceof OutcomeUnknownError) {
      const how = (i: number) => (err.retryable ? `retry with { id: '${token}', part: { index: ${i}, count: ${count} } }` : FORGOTTEN_TOKEN_ADVICE);
      members.forEach((m, i) => m.reject(new OutcomeUnknownError(
        `${err.message} (number ${i} of a block of ${count}: ${how(i)})`,
        token, err.attempts, err.cause, { index: i, count },
      )));
    } else if (err instanceof ServerError && notTaken(group, err)) {
      // A ServerError is final only when no attempt may have applied (client.ts #giveUp: after
      // one that may have, the call ends ERR_OUTCOME_UNKNOWN), however many attempts were
      // refused or never sent before it: nothing applied. Alone, the numbers left below the
      // maximum still go out. (`attempts === 1` here failed every caller after a first attempt
      // on a dead router or a TRYAGAIN: a review.)
      if (incsRefused(group, err)) this.#pauseIncs(err);
      for (const m of members) this.deps.single(bucket, m.sequence, m.deadlineAtMs).then(m.resolve, m.reject);
    } else {
      if (err instanceof ServerError && incsRefused(group, err)) this.#pauseIncs(err);
      for (const m of members) m.reject(err);
    }
  }
}

/** Overflow, or an INCS refused unrun: nothing was taken. */
function notTaken(group: Group, err: ServerError): boolean {
  return /^increment would overflow/.test(err.serverMessage) || incsRefused(group, err);
}

/**
 * An INCS refused unrun: by an older server or router (unknown command, or its 16-argument
 * limit), or by a shard that will not run one until each of its members can (FEATUREOFF).
 */
function incsRefused(group: Group, err: ServerError): boolean {
  return group.mixed && (err.serverCode === 'FEATUREOFF' || /^(unknown command|too many arguments)/.test(err.serverMessage));
}

function bytesKey(name: Name): string {
  return (typeof name === 'string' ? Buffer.from(name) : name).toString('latin1');
}
