/**
 * When the catalog leader builds the slot table (node/ownership/init-due.ts): with
 * `--shards-expect` it builds as soon as that many shards (and every shard discovery sees) are
 * registered; without it, once the registered set has been quiet for the settle time; a shard
 * discovery sees but that never registers holds it back only until the wait's end.
 */
import test from 'ava';
import { initDue, type InitState } from '../../node/ownership/init-due.ts';

const base: InitState = {
  registered: ['1'], known: [], shardsExpect: undefined, firstRegisteredMs: 1000, lastChangeMs: 1000,
  nowMs: 1000, settleMs: 1500, initWaitMaxMs: 30_000,
};

test('without --shards-expect: waits until the registered set is quiet for the settle time', (t) => {
  t.false(initDue(base));
  t.false(initDue({ ...base, nowMs: 2499 }));
  t.true(initDue({ ...base, nowMs: 2500 }));
  t.false(initDue({ ...base, registered: [], firstRegisteredMs: 0, nowMs: 9999 }), 'nothing registered');
});

test('with --shards-expect: at once when that many are registered, never before', (t) => {
  t.true(initDue({ ...base, shardsExpect: 1 }), 'dev and its tests: no 1.5 s wait');
  t.false(initDue({ ...base, shardsExpect: 2, nowMs: 60_000 }), 'one of two: waits however long');
  t.true(initDue({ ...base, registered: ['1', '2'], shardsExpect: 2 }));
  t.true(initDue({ ...base, registered: ['1', '2', '3'], shardsExpect: 2 }), 'more than expected is fine');
});

test('a shard discovery sees holds the table back until it registers or the wait ends', (t) => {
  const seen = { ...base, known: ['1', '2'], shardsExpect: 1 };
  t.false(initDue(seen));
  t.false(initDue({ ...seen, nowMs: 1000 + 30_000 }));
  t.true(initDue({ ...seen, nowMs: 1000 + 30_001 }), 'it never formed: build without it');
  t.true(initDue({ ...seen, registered: ['1', '2'] }));
  t.false(initDue({ ...base, known: ['1', '2'], nowMs: 5000 }), 'without --shards-expect too');
});
