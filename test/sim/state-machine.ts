/**
 * The simulated replicated state machine: named counters driven by "INC key opId" entries.
 * Its applied index is kept in the same object as the counters, modelling the rule that the
 * applied index is stored atomically with the data.
 */
import type { Entry } from '../../node/raft/types.ts';
import { EntryType } from '../../node/raft/types.ts';
import type { ApplyResult } from './invariants.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeInc(key: string, opId: number): Uint8Array {
  return encoder.encode(`INC ${key} ${opId}`);
}

export class CounterMachine {
  applied = 0;
  readonly counters = new Map<string, number>();

  /** Applies one committed entry; the caller checks ordering. */
  apply(e: Entry): ApplyResult | null {
    this.applied = e.index;
    if (e.type !== EntryType.Normal || e.data.length === 0) return null;
    const [verb, key, id] = decoder.decode(e.data).split(' ');
    if (verb !== 'INC' || key === undefined || id === undefined) throw new Error(`unexpected command at ${e.index}`);
    const value = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, value);
    return { opId: Number(id), key, value };
  }

  encode(): Uint8Array {
    return encoder.encode(JSON.stringify({ applied: this.applied, counters: [...this.counters] }));
  }

  /** Replaces the whole state with a snapshot image taken at `index`. */
  restore(data: Uint8Array, index: number): void {
    this.counters.clear();
    if (data.length > 0) {
      const image = JSON.parse(decoder.decode(data)) as { applied: number; counters: [string, number][] };
      if (image.applied !== index) throw new Error(`snapshot image at ${image.applied} labelled ${index}`);
      for (const [k, v] of image.counters) this.counters.set(k, v);
    }
    this.applied = index;
  }

  clone(): CounterMachine {
    const c = new CounterMachine();
    c.applied = this.applied;
    for (const [k, v] of this.counters) c.counters.set(k, v);
    return c;
  }
}
