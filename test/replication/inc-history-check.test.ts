/**
 * Blind spots of the replication tests' INC-history check (test/replication/helpers/cluster.ts,
 * checkIncHistory). Both were blind spots a checker review found.
 */
import test from 'ava';
import { checkIncHistory, type IncOp } from './helpers/cluster.ts';

const op = (client: number, token: string, invokeMs: number, ackMs: number, value: bigint | null): IncOp => ({ client, token, invokeMs, ackMs, value, attempts: 1 });

test('one client: its second INC (sent after the first returned 5) got 4 — real-time order broken', (t) => {
  // RetryingIncClient.inc stamps Date.now() (whole ms). On loopback a client's next INC starts in
  // the same millisecond its previous one was acknowledged, so ackMs === next invokeMs; the
  // check uses ackMs < invokeMs and never compares the two, although ops of ONE client are
  // sequential by construction (client + op number say so).
  const ops = [
    op(1, 'c1-o0', 100, 100, 1n),
    op(0, 'c0-o0', 100, 101, 2n),
    op(0, 'c0-o1', 101, 102, 3n),
    op(1, 'c1-o1', 100, 101, 5n),
    op(1, 'c1-o2', 101, 101, 4n), // client 1 sent this after c1-o1 returned 5
  ];
  t.notDeepEqual(checkIncHistory(ops), [], 'c1-o2=4 was requested after c1-o1=5 was acknowledged');
});

test('INCs that never got a number are ignored: the check must not pass vacuously', (t) => {
  // 3 ops, none got a number (every one timed out): nothing was verified, yet [] means "correct".
  const ops = [op(0, 'c0-o0', 0, 0, null), op(1, 'c1-o0', 0, 0, null), op(2, 'c2-o0', 0, 0, null)];
  t.notDeepEqual(checkIncHistory(ops), [], 'no op was acknowledged');
});
