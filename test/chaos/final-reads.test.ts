/**
 * GETs after every acknowledged INC of a sequence and every INC's invocation ("final reads", the
 * chaos read-back) skip the Wing-Gong search and are judged by the INC checks. Cross-checked here
 * against the search on small random histories whose GETs come after the last acknowledged INC:
 * overlapping unknown INCs, before INCs invoked later, several with different values, sequences
 * with no acknowledged INC (a review found 283 of 3,000 invalid histories passing before the
 * invocation bound, the order of reads and the read of 0 were checked).
 */
import test from 'ava';
import { checkHistory } from './checker/check.ts';
import { checkLinearizable } from './checker/linearizability.ts';
import { partition, opToJson, type Op, type OpStatus } from './checker/history.ts';
import { onlyFinalReads } from './checker/inc-checks.ts';

function op(process: number, type: 'inc' | 'get', invokeMs: number, completeMs: number, status: OpStatus, value?: number): Op {
  return { process, type, bucket: 'b', sequence: 's', invokeMs, completeMs, status, ...(value !== undefined ? { value: BigInt(value) } : {}) };
}

function verdicts(h: Op[]): { checker: string; search: string; final: boolean } {
  const key = partition(h).keys[0]!;
  return { checker: checkHistory(h).verdict, search: checkLinearizable(key.ops, null).outcome, final: onlyFinalReads(key) };
}

test('hand-made: a GET that saw a number no INC invoked before it could have taken (a skip) is caught', (t) => {
  // INC 1 acknowledged; a GET (after it) reads 2 although no other INC had been invoked yet;
  // an INC invoked only later times out. The number 2 appeared out of nowhere (INC 1 applied twice).
  const h = [op(0, 'inc', 0, 1, 'ok', 1), op(1, 'get', 5, 6, 'ok', 2), op(0, 'inc', 10, 11, 'unknown')];
  t.like(verdicts(h), { checker: 'invalid', search: 'violation' });
});

test('hand-made: final reads that go backwards (5 then 4: a lost number, handed out again later) are caught', (t) => {
  const h = [
    op(0, 'inc', 0, 1, 'ok', 1), op(0, 'inc', 2, 3, 'ok', 2), op(0, 'inc', 4, 5, 'ok', 3),
    op(1, 'inc', 4, 5, 'unknown'), op(2, 'inc', 4, 5, 'unknown'),
    op(3, 'get', 10, 11, 'ok', 5), op(3, 'get', 12, 13, 'ok', 4),
  ];
  t.like(verdicts(h), { checker: 'invalid', search: 'violation' });
});

test('hand-made: no INC acknowledged, every GET counts as final: 1 then 0 is caught', (t) => {
  const h = [op(0, 'inc', 0, 1, 'unknown'), op(1, 'get', 2, 3, 'ok', 1), op(1, 'get', 4, 5, 'ok', 0)];
  t.like(verdicts(h), { checker: 'invalid', search: 'violation' });
});

test('random small histories: the INC checks with final reads agree with the search (seeded)', (t) => {
  const seed = Number(process.env.FINAL_READ_SEED ?? 1 + Math.floor(Math.random() * 1e6));
  let x = seed;
  const rand = (m: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return Math.floor((x / 2147483648) * m);
  };
  t.log(`seed ${seed} (FINAL_READ_SEED=${seed} to replay)`);
  const missed: string[] = [];
  const extra: string[] = [];
  let decided = 0;
  for (let round = 0; round < 3000; round++) {
    const h: Op[] = [];
    const n = 1 + rand(4);
    for (let i = 0; i < n; i++) {
      const inv = rand(20);
      const r = rand(10);
      const status: OpStatus = r < 5 ? 'ok' : r < 9 ? 'unknown' : 'fail';
      h.push(op(i, 'inc', inv, inv + 1 + rand(6), status, status === 'ok' ? 1 + rand(n + 1) : undefined));
    }
    const lastOk = Math.max(-1, ...h.filter((o) => o.status === 'ok').map((o) => o.completeMs));
    const g = 1 + rand(2);
    for (let i = 0; i < g; i++) {
      const inv = lastOk + 1 + rand(10);
      h.push(op(10 + i, 'get', inv, inv + 1 + rand(3), 'ok', rand(n + 2)));
    }
    const key = partition(h).keys[0]!;
    if (!onlyFinalReads(key)) continue;
    const search = checkLinearizable(key.ops, null).outcome;
    if (search === 'undecided') continue;
    decided++;
    const verdict = checkHistory(h).verdict;
    const line = JSON.stringify(h.map(opToJson));
    if (search === 'violation' && verdict === 'valid') missed.push(line);
    if (search === 'ok' && verdict !== 'valid') extra.push(line);
  }
  t.log(`${decided} decided; ${missed.length} invalid histories passed, ${extra.length} valid ones failed`);
  t.deepEqual(missed.slice(0, 3), [], `${missed.length} histories the search rejects pass the INC checks`);
  t.deepEqual(extra.slice(0, 3), [], `${extra.length} histories the search accepts fail the INC checks`);
});
