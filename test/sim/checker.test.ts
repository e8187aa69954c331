/**
 * The history checker must reject bad INC histories (and accept good ones), or the simulator's
 * final verdict proves nothing.
 */
import test from 'ava';
import { checkIncHistory, type IncOp, type OpOutcome } from './history.ts';

let nextId = 1;
function op(key: string, invokeAt: number, completeAt: number | null, outcome: OpOutcome, value?: number): IncOp {
  return { id: nextId++, key, invokeAt, completeAt, outcome, ...(value !== undefined ? { value } : {}) };
}

function rejectsWith(ops: IncOp[], property: string, extra: { final?: Record<string, number>; applied?: Map<number, number> } = {}) {
  const verdict = checkIncHistory({
    ops,
    ...(extra.final ? { finalValues: new Map(Object.entries(extra.final)) } : {}),
    ...(extra.applied ? { appliedValues: extra.applied } : {}),
  });
  return !verdict.ok && verdict.property === property ? true : verdict;
}

test('accepts a sequential history', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1), op('a', 2, 3, 'ok', 2), op('b', 2, 5, 'ok', 1), op('a', 4, 6, 'ok', 3)];
  t.deepEqual(checkIncHistory({ ops, finalValues: new Map([['a', 3], ['b', 1]]) }), { ok: true });
});

test('accepts concurrent ops completing in either order', (t) => {
  const ops = [op('a', 0, 10, 'ok', 2), op('a', 1, 5, 'ok', 1), op('a', 11, 12, 'ok', 3)];
  t.deepEqual(checkIncHistory({ ops }), { ok: true });
});

test('accepts a gap explained by an unknown op, and a fail that took nothing', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1), op('a', 2, 50, 'unknown'), op('a', 3, 3, 'fail'), op('a', 10, 11, 'ok', 3)];
  t.deepEqual(checkIncHistory({ ops, finalValues: new Map([['a', 3]]) }), { ok: true });
});

test('rejects a duplicate value', (t) => {
  t.true(rejectsWith([op('a', 0, 5, 'ok', 1), op('a', 1, 6, 'ok', 1)], 'duplicate-value'));
});

test('rejects a real-time order violation', (t) => {
  // The first INC returned 2 before the second was invoked, which then got 1.
  const ops = [op('a', 0, 1, 'ok', 2), op('a', 2, 3, 'ok', 1)];
  t.true(rejectsWith(ops, 'real-time-order'));
});

test('rejects a value taken by a failed op (final value counts it)', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1), op('a', 2, 3, 'fail'), op('a', 4, 5, 'ok', 3)];
  t.true(rejectsWith(ops, 'value-out-of-range'));
  const ops2 = [op('a', 0, 1, 'ok', 1), op('a', 2, 3, 'fail')];
  t.true(rejectsWith(ops2, 'final-value', { final: { a: 2 } }));
});

test('rejects a failed op the state machine applied anyway', (t) => {
  const failed = op('a', 2, 3, 'fail');
  const ops = [op('a', 0, 1, 'ok', 1), failed];
  t.true(rejectsWith(ops, 'failed-op-applied', { applied: new Map([[ops[0]!.id, 1], [failed.id, 2]]) }));
});

test('rejects an ok value the state machine did not produce', (t) => {
  const a = op('a', 0, 1, 'ok', 1);
  t.true(rejectsWith([a], 'ok-value-mismatch', { applied: new Map([[a.id, 2]]) }));
});

test('rejects a gap no unknown op explains', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1), op('a', 2, 3, 'ok', 3), op('a', 0, 9, 'unknown')];
  // The unknown op could have taken 2: accepted.
  t.deepEqual(checkIncHistory({ ops }), { ok: true });
  // Invoked only after 3 was returned, it cannot have taken 2.
  const late = [op('a', 0, 1, 'ok', 1), op('a', 2, 3, 'ok', 3), op('a', 4, 9, 'unknown')];
  t.true(rejectsWith(late, 'unexplained-gap'));
  // No unknown op at all.
  t.true(rejectsWith([op('a', 0, 1, 'ok', 1), op('a', 2, 3, 'ok', 3), op('a', 2, 2, 'fail')], 'value-out-of-range'));
});

test('rejects a gap below the final value', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1), op('a', 0, 9, 'unknown'), op('a', 0, 9, 'unknown')];
  t.deepEqual(checkIncHistory({ ops, finalValues: new Map([['a', 3]]) }), { ok: true });
  t.true(rejectsWith(ops, 'final-value', { final: { a: 4 } }));
  // One unknown op cannot explain two missing values.
  const one = [op('a', 0, 1, 'ok', 1), op('a', 0, 9, 'unknown'), op('a', 5, 6, 'ok', 4)];
  t.true(rejectsWith(one, 'value-out-of-range'));
});

test('keys are independent counters', (t) => {
  const ops = [op('a', 0, 1, 'ok', 1), op('b', 2, 3, 'ok', 1), op('b', 4, 5, 'ok', 1)];
  t.true(rejectsWith(ops, 'duplicate-value'));
});

function read(key: string, invokeAt: number, completeAt: number, value: number) {
  return { id: nextId++, key, invokeAt, completeAt, value };
}

test('accepts reads consistent with the increments', (t) => {
  const ops = [op('a', 0, 2, 'ok', 1), op('a', 5, 9, 'ok', 2)];
  const reads = [read('a', 3, 4, 1), read('a', 6, 8, 1), read('a', 6, 8, 2), read('a', 10, 11, 2)];
  t.deepEqual(checkIncHistory({ ops, reads }), { ok: true });
});

test('rejects a stale read', (t) => {
  const ops = [op('a', 0, 2, 'ok', 1), op('a', 3, 4, 'ok', 2)];
  const v = checkIncHistory({ ops, reads: [read('a', 5, 6, 1)] });
  t.like(v, { ok: false, property: 'stale-read' });
});

test('rejects a read that saw an increment invoked after it ended', (t) => {
  const ops = [op('a', 0, 2, 'ok', 1), op('a', 10, 11, 'ok', 2)];
  const v = checkIncHistory({ ops, reads: [read('a', 3, 4, 2)] });
  t.like(v, { ok: false, property: 'read-from-future' });
});

test('rejects reads going backwards in real time', (t) => {
  const ops = [op('a', 0, 20, 'ok', 1)];
  const v = checkIncHistory({ ops, reads: [read('a', 1, 2, 1), read('a', 3, 4, 0)] });
  t.like(v, { ok: false, property: 'read-order' });
});
