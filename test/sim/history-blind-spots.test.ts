/**
 * Blind spots of the simulator's history checker (test/sim/history.ts, checkIncHistory).
 * Each test feeds a hand-made history that violates the INC contract and asserts the checker
 * rejects it. Each was a blind spot a checker review found.
 */
import test from 'ava';
import { checkIncHistory, type IncOp, type OpOutcome } from './history.ts';

let nextId = 1;
function op(key: string, invokeAt: number, completeAt: number | null, outcome: OpOutcome, value?: number): IncOp {
  return { id: nextId++, key, invokeAt, completeAt, outcome, ...(value !== undefined ? { value } : {}) };
}

test('ground truth: two applied INCs that got the same number (one reported unknown) must be rejected', (t) => {
  // The state machine handed out 1 twice: to op A (ok, client saw 1) and to op B (the client
  // timed out: unknown). Op C got 2. Three INCs took effect but the counter is 2.
  const a = op('a', 0, 10, 'ok', 1);
  const b = op('a', 1, 600, 'unknown');
  const c = op('a', 20, 30, 'ok', 2);
  const applied = new Map([[a.id, 1], [b.id, 1], [c.id, 2]]);
  const verdict = checkIncHistory({ ops: [a, b, c], finalValues: new Map([['a', 2]]), appliedValues: applied });
  t.false(verdict.ok, 'duplicate number 1 in the state machine (appliedValues) was not seen');
});

test('ground truth: an unknown op applied with a number that breaks real-time order must be rejected', (t) => {
  // A returned 2 at t=10. B was invoked at t=20 (after A returned), timed out, yet the state
  // machine applied B with value 1: out of real-time order. D (unknown, never applied) lets
  // the client-side gap rule explain 1, and appliedValues (which says who really took 1) is
  // only consulted for ok and fail ops.
  const d = op('a', 1, 601, 'unknown');
  const a = op('a', 0, 10, 'ok', 2);
  const b = op('a', 20, 620, 'unknown');
  const c = op('a', 700, 710, 'ok', 3);
  const applied = new Map([[a.id, 2], [b.id, 1], [c.id, 3]]);
  const verdict = checkIncHistory({ ops: [d, a, b, c], finalValues: new Map([['a', 3]]), appliedValues: applied });
  t.false(verdict.ok, 'appliedValues show B (invoked after A returned 2) took 1');
});

test('a read of a key nobody incremented must be checked (it can only see the start value)', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1)];
  const verdict = checkIncHistory({ ops, reads: [{ id: 99, key: 'b', invokeAt: 5, completeAt: 6, value: 7 }] });
  t.false(verdict.ok, 'read of b returned 7 but no INC of b exists');
});
