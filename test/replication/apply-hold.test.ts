/**
 * A follower's apply hold (node/replication/apply-pipeline.ts `hold`): committed entries kept
 * back to be applied with later ones in one state transaction. Against a real LMDB state store:
 * nothing held is lost or applied twice, whatever call comes next (a later Ready's `apply`, a
 * redelivery, `drain`, a conf change, the bounds, the timer).
 */
import test, { type ExecutionContext } from 'ava';
import { setImmediate as tick } from 'node:timers/promises';
import { ApplyPipeline } from '../../node/replication/apply-pipeline.ts';
import { Members } from '../../node/replication/members.ts';
import { encodeConfChangeEntry } from '../../node/raft/conf-change-codec.ts';
import { EntryType, type Entry } from '../../node/raft/types.ts';
import { LmdbStore, StateMachine, encodeCommand, parseCommand, read } from '../../node/state-machine/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
/** An entry of one plain INC of b/s (no token: applied twice it would count twice). */
const inc = (index: number): Entry => ({ index, term: 1, type: EntryType.Normal, data: encodeCommand(parseCommand([b('INC'), b('b'), b('s')]), Date.now()) });
const conf = (index: number): Entry => ({
  index, term: 1, type: EntryType.ConfChange,
  data: encodeConfChangeEntry({ type: 'addLearner', nodeId: 'n2', context: '127.0.0.1:1' }, { voters: ['n1'], learners: ['n2'] }),
});
const incs = (from: number, to: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => inc(from + i));
const LONG_MS = 60_000;

async function pipeline(t: ExecutionContext, checkpointEvery = 0) {
  const store = LmdbStore.open({ path: await tempDir(t), sync: false });
  t.teardown(() => store.close());
  /** [checkpoint index, the stored applied index and value read right then]. */
  const checkpoints: [number, number, number | null][] = [];
  const applier = new ApplyPipeline({
    store, machine: new StateMachine(), members: new Members('n1', '127.0.0.1:0'),
    onResult: () => {}, onDurable: () => {},
    onFatal: (err) => t.fail(err.message),
    checkpointEvery,
    onCheckpoint: (index) => checkpoints.push([index, store.appliedIndex(), state().value]),
  });
  t.teardown(() => applier.drain());
  /** The sequence's value in the committed state, and the stored applied index. */
  const state = () => {
    const r = store.read((kv) => read(kv, { type: 'get', bucket: b('b'), sequence: b('s') }));
    return { value: r.type === 'int' ? Number(r.value) : null, applied: store.appliedIndex() };
  };
  /** Lets scheduled state transactions run (they start from a microtask and commit in place). */
  const settle = async () => {
    await tick();
    await applier.drain();
  };
  return { applier, state, settle, checkpoints };
}

test('held entries stay unapplied until the hold time passes, then apply together', async (t) => {
  const { applier, state } = await pipeline(t);
  await applier.hold(incs(1, 3), 50);
  await tick();
  t.deepEqual(state(), { value: null, applied: 0 });
  const deadline = Date.now() + 5000;
  while (state().applied < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(state(), { value: 3, applied: 3 });
  t.is(applier.applied, 3);
});

test('apply after hold applies the held entries first: none skipped', async (t) => {
  const { applier, state, settle } = await pipeline(t);
  await applier.hold(incs(1, 2), LONG_MS);
  await applier.apply([inc(3)]);
  await tick();
  t.deepEqual(state(), { value: 3, applied: 3 });
  await settle();
  t.is(applier.applied, 3);
});

test('redelivered entries are neither held nor applied twice', async (t) => {
  const { applier, state, settle } = await pipeline(t);
  await applier.hold(incs(1, 2), LONG_MS);
  await applier.hold(incs(2, 4), LONG_MS);
  await applier.apply(incs(1, 5));
  await settle();
  t.deepEqual(state(), { value: 5, applied: 5 });
  await applier.hold(incs(4, 6), LONG_MS);
  await settle();
  t.deepEqual(state(), { value: 6, applied: 6 });
});

test('a conf change is not held: it applies at once with everything held before it', async (t) => {
  const { applier, state } = await pipeline(t);
  await applier.hold(incs(1, 2), LONG_MS);
  await applier.hold([conf(3)], LONG_MS);
  await tick();
  t.deepEqual(state(), { value: 2, applied: 3 });
});

test('drain applies what is held (snapshots and stop rely on it)', async (t) => {
  const { applier, state } = await pipeline(t);
  await applier.hold(incs(1, 4), LONG_MS);
  await applier.drain();
  t.deepEqual(state(), { value: 4, applied: 4 });
  t.is(applier.applied, 4);
});

test('the hold is bounded: the 64th entry held applies all of them', async (t) => {
  const { applier, state } = await pipeline(t);
  await applier.hold(incs(1, 63), LONG_MS);
  await tick();
  t.deepEqual(state(), { value: null, applied: 0 });
  await applier.hold([inc(64)], LONG_MS);
  await tick();
  t.deepEqual(state(), { value: 64, applied: 64 });
});

test('checkpoints cut the transactions: each sees the state as of its index; drain waits for every cut', async (t) => {
  const { applier, state, checkpoints } = await pipeline(t, 10);
  await applier.hold(incs(5, 25), LONG_MS); // held, spanning checkpoints 10 and 20
  await applier.drain(); // a review: drain resolved after the first cut, applied 10 with 25 in the store
  t.deepEqual(state(), { value: 21, applied: 25 });
  t.is(applier.applied, 25);
  t.deepEqual(checkpoints, [[10, 10, 6], [20, 20, 16]]);
});

test('with a checkpoint at every index, applies handed out back to back commit in order, none lost', async (t) => {
  const { applier, state, settle, checkpoints } = await pipeline(t, 1);
  await applier.hold(incs(1, 30), LONG_MS);
  // The next Ready's apply, in the same turn: its transaction must wait for every earlier cut.
  void applier.apply(incs(31, 40));
  void applier.apply(incs(41, 45));
  await settle();
  t.deepEqual(state(), { value: 45, applied: 45 });
  t.deepEqual(checkpoints.map(([i]) => i), Array.from({ length: 45 }, (_, i) => i + 1));
  t.true(checkpoints.every(([i, applied, value]) => applied === i && value === i), 'each read sees exactly its own index');
});
