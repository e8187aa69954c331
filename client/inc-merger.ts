/**
 * ClientOptions.mergeIncs: the inc() calls of one sequence (no `id`, `count` 1) that this client
 * receives in one turn of the event loop leave as ONE `INC bucket sequence COUNT k ID <token>`,
 * and the k numbers go back in call order. The shard logs, replicates and applies one command
 * and remembers one token instead of k; each caller still gets one number of its own.
 *
 * Why it is safe: the k calls were all in progress at once, so any order among them is valid.
 * The block is retried with its one token (across routers too), so it applies once. If its
 * outcome stays unknown, caller i gets ERR_OUTCOME_UNKNOWN with the token and `part` {i, k}:
 * `inc(b, s, { id: token, part })` takes the whole block if it never applied, or finds it, and
 * answers number i (the server's `PART`, node/state-machine/part-token.ts). A block the server
 * refuses with a plain error (overflow near the maximum) is sent again one call at a time, so
 * each caller gets what it would have got alone.
 */
import { OutcomeUnknownError, ServerError } from './errors.ts';
import type { Name } from './validate.ts';

/** Most calls in one block (the server's largest PART). */
export const INC_BLOCK_MAX = 1024;

export interface BlockPart {
  /** Which number of the block (0 = the first). */
  readonly index: number;
  /** Numbers in the block. */
  readonly count: number;
}

interface Member {
  readonly resolve: (value: bigint) => void;
  readonly reject: (err: unknown) => void;
}

interface Group {
  readonly bucket: Name;
  readonly sequence: Name;
  readonly deadlineMs: number | undefined;
  readonly members: Member[];
}

export interface MergerDeps {
  /** `INC bucket sequence COUNT count ID token` with the client's retries; the last number. */
  readonly block: (bucket: Name, sequence: Name, count: number, token: string, deadlineMs: number | undefined) => Promise<bigint>;
  /** One plain inc() as without merging. */
  readonly single: (bucket: Name, sequence: Name, deadlineMs: number | undefined) => Promise<bigint>;
  readonly newToken: () => string;
}

export class IncMerger {
  readonly #open = new Map<string, Group>();
  #scheduled = false;

  constructor(private readonly deps: MergerDeps) {}

  /** Joins this call to its sequence's block (calls with another deadline go in another block). */
  add(bucket: Name, sequence: Name, deadlineMs: number | undefined): Promise<bigint> {
    const key = groupKey(bucket, sequence, deadlineMs);
    let group = this.#open.get(key);
    if (group !== undefined && group.members.length >= INC_BLOCK_MAX) {
      this.#open.delete(key);
      this.#dispatch(group);
      group = undefined;
    }
    if (group === undefined) {
      group = { bucket, sequence, deadlineMs, members: [] };
      this.#open.set(key, group);
      this.#schedule();
    }
    const members = group.members;
    return new Promise<bigint>((resolve, reject) => members.push({ resolve, reject }));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const groups = [...this.#open.values()];
      this.#open.clear();
      for (const group of groups) this.#dispatch(group);
    });
  }

  #dispatch(group: Group): void {
    const { bucket, sequence, deadlineMs, members } = group;
    if (members.length === 1) {
      this.deps.single(bucket, sequence, deadlineMs).then(members[0]!.resolve, members[0]!.reject);
      return;
    }
    const count = members.length;
    const token = this.deps.newToken();
    this.deps.block(bucket, sequence, count, token, deadlineMs).then(
      (last) => members.forEach((m, i) => m.resolve(last - BigInt(count - 1 - i))),
      (err: unknown) => this.#failed(group, token, err),
    );
  }

  #failed(group: Group, token: string, err: unknown): void {
    const { bucket, sequence, deadlineMs, members } = group;
    const count = members.length;
    if (err instanceof OutcomeUnknownError) {
      members.forEach((m, i) => m.reject(new OutcomeUnknownError(
        `${err.message} (number ${i} of a block of ${count}: retry with { id: '${token}', part: { index: ${i}, count: ${count} } })`,
        token, err.attempts, err.cause, { index: i, count },
      )));
    } else if (err instanceof ServerError && err.serverCode === 'ERR') {
      // A plain error reply: certainly not applied. Alone, each call gets its own answer.
      for (const m of members) this.deps.single(bucket, sequence, deadlineMs).then(m.resolve, m.reject);
    } else {
      for (const m of members) m.reject(err);
    }
  }
}

function groupKey(bucket: Name, sequence: Name, deadlineMs: number | undefined): string {
  const b = typeof bucket === 'string' ? Buffer.from(bucket) : bucket;
  const s = typeof sequence === 'string' ? Buffer.from(sequence) : sequence;
  return `${b.length}:${b.toString('latin1')}${s.toString('latin1')}|${deadlineMs ?? ''}`;
}
