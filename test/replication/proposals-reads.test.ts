import test from 'ava';
import { Proposals, proposeErrorResult } from '../../node/replication/proposals.ts';
import { ReadQueue } from '../../node/replication/read-queue.ts';
import { RaftError, RaftErrorCode } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type CommandResult, type GetCommand } from '../../node/state-machine/index.ts';

const lost = (): CommandResult => errorResult(ErrorCode.NOT_LEADER, 's1 ?');
const int = (v: bigint): CommandResult => ({ type: 'int', value: v });

test('a proposal succeeds iff the entry applied at its index has its term', async (t) => {
  const p = new Proposals(1000, lost);
  const a = p.wait({ index: 5, term: 2 }, 0);
  const b = p.wait({ index: 6, term: 2 }, 0);
  p.applied(5, 2, int(7n));
  p.applied(6, 3, int(8n)); // another leader's entry landed at 6
  t.deepEqual(await a, int(7n));
  t.is(((await b) as { code: string }).code, ErrorCode.NOT_LEADER);
  t.is(p.size, 0);
});

test('a reused index keeps both proposals waiting: the entry applied there settles each by its term', async (t) => {
  const p = new Proposals(1000, lost);
  const old = p.wait({ index: 3, term: 1 }, 0);
  const again = p.wait({ index: 3, term: 2 }, 0);
  // The older entry, cut from this node's log, may still be committed by a node that holds it.
  p.applied(3, 1, int(4n));
  t.deepEqual(await old, int(4n));
  t.is(((await again) as { code: string }).code, ErrorCode.NOT_LEADER);
  t.is(p.size, 0);
});

test('timeouts and snapshots give OUTCOME_UNKNOWN, to every proposal waiting on an index', async (t) => {
  const p = new Proposals(1000, lost);
  const old = p.wait({ index: 3, term: 1 }, 0);
  const again = p.wait({ index: 3, term: 2 }, 0);
  const covered = p.wait({ index: 2, term: 2 }, 0);
  const late = p.wait({ index: 9, term: 2 }, 500);
  p.coveredBySnapshot(3);
  t.is(((await old) as { code: string }).code, ErrorCode.OUTCOME_UNKNOWN);
  t.is(((await again) as { code: string }).code, ErrorCode.OUTCOME_UNKNOWN);
  t.is(((await covered) as { code: string }).code, ErrorCode.OUTCOME_UNKNOWN);
  p.expire(1400);
  t.is(p.size, 1);
  p.expire(1500);
  t.is(((await late) as { code: string }).code, ErrorCode.OUTCOME_UNKNOWN);
});

const get = (s: string): GetCommand => ({ type: 'get', bucket: Buffer.from('b'), sequence: Buffer.from(s) });

test('GETs queued together share one ReadIndex round and are served once applied reaches it', (t) => {
  const q = new ReadQueue(1000, 10);
  const answers: string[] = [];
  for (const s of ['x', 'y']) q.add(get(s), 0, 0, 10, (r) => answers.push(`${s}:${r.type}`));
  const contexts: string[] = [];
  q.issue((ctx) => contexts.push(ctx), lost);
  t.is(contexts.length, 1);
  q.onReadStates([{ index: 10, context: contexts[0]! }]);
  q.serve(9, () => t.fail('served before applied reached the read index'));
  t.deepEqual(answers, []);
  q.serve(10, (cmds) => cmds.map(() => ({ type: 'nil' })));
  t.deepEqual(answers, ['x:nil', 'y:nil']);
  t.is(q.size, 0);
});

test('NOT_READY keeps GETs queued; losing leadership answers every pending GET; the queue is bounded', (t) => {
  const q = new ReadQueue(1000, 2);
  const answers: string[] = [];
  t.true(q.add(get('a'), 0, 0, 0, (r) => answers.push((r as { code: string }).code)));
  t.true(q.add(get('b'), 0, 0, 0, (r) => answers.push((r as { code: string }).code)));
  t.false(q.add(get('c'), 0, 0, 0, () => t.fail()));
  q.issue(() => {
    throw new RaftError(RaftErrorCode.NOT_READY, 'no commit in term yet');
  }, lost);
  t.is(q.size, 2);
  q.issue(() => {}, lost);
  q.failAll(lost());
  t.deepEqual(answers, [ErrorCode.NOT_LEADER, ErrorCode.NOT_LEADER]);
  t.is(q.size, 0);
});

test('a GET waits for writes proposed before it arrived, even if its ReadIndex round is older (read-your-writes)', (t) => {
  const q = new ReadQueue(1000, 10);
  const answers: string[] = [];
  // An INC was proposed at index 12 and is not committed yet; the GET pipelined behind it arrives now.
  q.add(get('x'), 0, 12, 12, (r) => answers.push(r.type));
  const contexts: string[] = [];
  q.issue((ctx) => contexts.push(ctx), lost);
  q.onReadStates([{ index: 10, context: contexts[0]! }]);
  q.serve(11, () => t.fail('served before the earlier write was applied'));
  q.serve(12, (cmds) => cmds.map(() => ({ type: 'int', value: 1n }) as const));
  t.deepEqual(answers, ['int']);
});

test('a GET never sees an entry proposed after it arrived: its value is taken before the apply moves past its bound', (t) => {
  const q = new ReadQueue(1000, 10);
  const answers: string[] = [];
  const value = (v: bigint) => ({ type: 'int', value: v }) as const;
  // Pipelined on one connection: INC (index 12), GET, INC (index 13). The GET's bound is 12.
  q.add(get('x'), 0, 12, 12, (r) => answers.push(`early:${r.type === 'int' ? r.value : r.type}`));
  q.add(get('x'), 0, 13, 15, (r) => answers.push(`late:${r.type === 'int' ? r.value : r.type}`));
  const contexts: string[] = [];
  q.issue((ctx) => contexts.push(ctx), lost);
  // The apply transaction reaches entry 13: state is "after 12" now, value 1.
  q.capture(13, () => value(1n));
  q.capture(14, () => t.fail('the second GET may still see entries up to 15'));
  q.capture(16, () => value(3n));
  q.onReadStates([{ index: 12, context: contexts[0]! }]);
  q.serve(16, () => t.fail('both values were captured'));
  t.deepEqual(answers, ['early:1', 'late:3']);
});

test('a GET served while applied is within its bound reads the current state; an answered GET is not captured', (t) => {
  const q = new ReadQueue(1000, 10);
  const answers: string[] = [];
  q.add(get('x'), 0, 5, 9, (r) => answers.push(r.type));
  q.add(get('y'), 0, 5, 9, (r) => answers.push(r.type));
  const contexts: string[] = [];
  q.issue((ctx) => contexts.push(ctx), lost);
  q.onReadStates([{ index: 7, context: contexts[0]! }]);
  q.serve(8, (cmds) => cmds.map(() => ({ type: 'nil' }) as const));
  t.deepEqual(answers, ['nil', 'nil']);
  q.capture(10, () => t.fail('nothing left to capture'));
});

test('answered GETs leave the capture list even when no entry is applied (a read-only load stays bounded)', (t) => {
  const q = new ReadQueue(1000, 100);
  let answered = 0;
  for (let round = 0; round < 500; round++) {
    for (let i = 0; i < 10; i++) q.add(get('x'), 0, 7, 7, () => answered++);
    const contexts: string[] = [];
    q.issue((ctx) => contexts.push(ctx), lost);
    q.onReadStates([{ index: 7, context: contexts[0]! }]);
    q.serve(7, (cmds) => cmds.map(() => ({ type: 'nil' }) as const));
  }
  t.is(answered, 5000);
  t.true(q.trackedForCapture <= 10, `${q.trackedForCapture} readers still tracked`);
});

test('a confirmed GET waiting for an index that never comes expires', (t) => {
  const q = new ReadQueue(100, 10);
  const answers: string[] = [];
  q.add(get('x'), 0, 12, 12, (r) => answers.push(r.type === 'error' ? r.code : r.type));
  const contexts: string[] = [];
  q.issue((ctx) => contexts.push(ctx), lost);
  q.onReadStates([{ index: 10, context: contexts[0]! }]);
  q.expire(50, lost());
  t.deepEqual(answers, []);
  q.expire(100, { type: 'error', code: ErrorCode.TRY_AGAIN, message: 'read timed out' });
  t.deepEqual(answers, [ErrorCode.TRY_AGAIN]);
  t.is(q.size, 0);
  t.is(q.trackedForCapture, 0);
});

test('a leader handing over or full of unconfirmed reads says TRYAGAIN / BUSY, not NOTLEADER naming itself', (t) => {
  const refused = (code: RaftErrorCode) => proposeErrorResult(new RaftError(code, 'x'), lost) as { code: string };
  t.is(refused(RaftErrorCode.TRANSFERRING).code, ErrorCode.TRY_AGAIN);
  t.is(refused(RaftErrorCode.NOT_LEADER).code, ErrorCode.NOT_LEADER);
  const q = new ReadQueue(1000, 10);
  const answers: string[] = [];
  q.add(get('a'), 0, 0, 0, (r) => answers.push((r as { code: string }).code));
  q.issue(() => {
    throw new RaftError(RaftErrorCode.READS_FULL, 'too many');
  }, lost);
  q.add(get('b'), 0, 0, 0, (r) => answers.push((r as { code: string }).code));
  q.issue(() => {
    throw new RaftError(RaftErrorCode.NOT_LEADER, 'gone');
  }, lost);
  t.deepEqual(answers, [ErrorCode.BUSY, ErrorCode.NOT_LEADER]);
});
