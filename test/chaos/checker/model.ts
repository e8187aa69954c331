/**
 * The sequential specification of one sequence: a register that INC, SET and GET act on.
 *
 * State is null before the first SET or INC (GET answers nil), else the current value. ANY is a
 * symbolic state used when checking a window cut out of the middle of a history: the value
 * before the window is unknown, so the first op that reveals it fixes it.
 */
import type { LogicalOp } from './history.ts';

export const ANY = 'any' as const;
export type SeqState = bigint | null | typeof ANY;

/** The state after `op`, or undefined if `op` cannot happen in `state` with what it returned. */
export function step(state: SeqState, op: LogicalOp): SeqState | undefined {
  switch (op.kind) {
    case 'set':
      return op.value as bigint;
    case 'get':
      if (state === ANY) return op.value as bigint | null;
      return state === op.value ? state : undefined;
    case 'inc': {
      if (op.status !== 'ok') return state === ANY ? ANY : (state ?? 0n) + 1n;
      const value = op.value as bigint;
      if (state === ANY) return value;
      return (state ?? 0n) + 1n === value ? value : undefined;
    }
  }
}

export function stateKey(state: SeqState): string {
  return state === ANY ? 'A' : state === null ? 'N' : state.toString();
}
