/**
 * ClientOptions.mergeIncs: the inc() calls of one sequence (no `id`, `count` 1) that this client
 * receives in one turn of the event loop leave as ONE `INC bucket sequence COUNT k ID <token>`,
 * and the k numbers go back in call order. The shard logs, replicates and applies one command
 * and remembers one token instead of k; each caller still gets one number of its own.
 *
 * Why it is safe:
 * - The k calls were all in progress at once, so any order among them is valid.
 * - The block is retried with its one token (across routers too), so it applies once. The token
 *   is a block token (`<ms>-<16 chars>~<k>`, shared/protocol/part-token.ts) that servers accept
 *   only with COUNT k or PART i/k (and this client refuses otherwise too): k callers retrying it
 *   alone would otherwise share the one number the first of them took.
 * - If its outcome stays unknown, caller i gets ERR_OUTCOME_UNKNOWN with the token and `part`
 *   {i, k}: `inc(b, s, { id: token, part })` takes the whole block if it never applied, or finds
 *   it, and answers number i. So one caller's retry takes all k numbers: callers that never retry
 *   leave theirs unused.
 * - Only an overflow refusal of the block's first attempt is re-sent one call at a time (nothing
 *   was applied, and alone some calls may still get a number); any other error reaches every
 *   caller as it is.
 * - A block's deadline is the earliest of its callers', counted from their inc() calls.
 */
import { ClientError, ClientErrorCode, FORGOTTEN_TOKEN_ADVICE, OutcomeUnknownError, ServerError } from './errors.ts';
import { timedToken } from './token.ts';
import type { Name } from './validate.ts';
import { BLOCK_PARTS_MAX, blockToken, partValue, type Part } from '../shared/protocol/part-token.ts';

/** Which number (`index`, 0 = first) of a block of `count` a merged call was. */
export type BlockPart = Part;

interface Member {
  readonly deadlineAtMs: number;
  readonly resolve: (value: bigint) => void;
  readonly reject: (err: unknown) => void;
}

interface Group {
  readonly key: string;
  readonly bucket: Name;
  readonly sequence: Name;
  readonly members: Member[];
}

export interface MergerDeps {
  /** `INC bucket sequence COUNT count ID token` with the client's retries until `deadlineAtMs`. */
  readonly block: (bucket: Name, sequence: Name, count: number, token: string, deadlineAtMs: number) => Promise<bigint>;
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

  constructor(private readonly deps: MergerDeps) {}

  /** Joins this call to its sequence's open block. */
  add(bucket: Name, sequence: Name, deadlineAtMs: number): Promise<bigint> {
    if (this.#members >= this.deps.membersMax) {
      return Promise.reject(new ClientError(ClientErrorCode.QUEUE_FULL, `${this.#members} merged calls in progress`));
    }
    const key = groupKey(bucket, sequence);
    let group = this.#open.get(key);
    if (group !== undefined && group.members.length >= BLOCK_PARTS_MAX) {
      this.#dispatch(group);
      group = undefined;
    }
    if (group === undefined) {
      group = { key, bucket, sequence, members: [] };
      this.#open.set(key, group);
      this.#schedule();
    }
    const members = group.members;
    this.#members++;
    return new Promise<bigint>((resolve, reject) => members.push({ deadlineAtMs, resolve, reject })).finally(() => this.#members--);
  }

  /** Sends every open block now (close() lets calls already made go out before the gate closes). */
  flush(): void {
    for (const group of [...this.#open.values()]) this.#dispatch(group);
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
    const { bucket, sequence, members } = group;
    try {
      if (members.length === 1) {
        const m = members[0]!;
        this.deps.single(bucket, sequence, m.deadlineAtMs).then(m.resolve, m.reject);
        return;
      }
      const count = members.length;
      const token = blockToken(timedToken(), count);
      const deadlineAtMs = Math.min(...members.map((m) => m.deadlineAtMs));
      this.deps.block(bucket, sequence, count, token, deadlineAtMs).then(
        (last) => members.forEach((m, i) => m.resolve(partValue(last, count, i))),
        (err: unknown) => this.#failed(group, token, err),
      );
    } catch (err) {
      for (const m of members) m.reject(err);
    }
  }

  #failed(group: Group, token: string, err: unknown): void {
    const { bucket, sequence, members } = group;
    const count = members.length;
    if (err instanceof OutcomeUnknownError) {
      const how = (i: number) => (err.retryable ? `retry with { id: '${token}', part: { index: ${i}, count: ${count} } }` : FORGOTTEN_TOKEN_ADVICE);
      members.forEach((m, i) => m.reject(new OutcomeUnknownError(
        `${err.message} (number ${i} of a block of ${count}: ${how(i)})`,
        token, err.attempts, err.cause, { index: i, count },
      )));
    } else if (err instanceof ServerError && err.attempts === 1 && /^increment would overflow/.test(err.serverMessage)) {
      // Refused at its only attempt: nothing applied. Alone, the numbers left below the maximum still go out.
      for (const m of members) this.deps.single(bucket, sequence, m.deadlineAtMs).then(m.resolve, m.reject);
    } else {
      for (const m of members) m.reject(err);
    }
  }
}

function groupKey(bucket: Name, sequence: Name): string {
  const b = typeof bucket === 'string' ? Buffer.from(bucket) : bucket;
  const s = typeof sequence === 'string' ? Buffer.from(sequence) : sequence;
  return `${b.length}:${b.toString('latin1')}${s.toString('latin1')}`;
}
