import test from 'ava';
import { LmdbStore, StateMachine, parseCommand, type Command } from '../../node/state-machine/index.ts';
import { SingleExecutor } from '../../node/single/executor.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const cmd = (...args: string[]): Command => parseCommand(args.map((a) => Buffer.from(a)));

async function setup(t: Parameters<typeof tempDir>[0], options: ConstructorParameters<typeof SingleExecutor>[2] = {}) {
  const store = LmdbStore.open({ path: await tempDir(t) });
  let transactions = 0;
  const write = store.write.bind(store);
  store.write = (fn) => (transactions++, write(fn));
  const executor = new SingleExecutor(store, new StateMachine(), options);
  t.teardown(() => executor.close());
  return { store, executor, transactions: () => transactions };
}

test('group commit: concurrent commands share transactions and keep arrival order', async (t) => {
  const { executor, transactions } = await setup(t);
  const results = await Promise.all(Array.from({ length: 500 }, () => executor.execute(cmd('INC', 'b', 's'))));
  t.deepEqual(results, Array.from({ length: 500 }, (_, i) => ({ type: 'int', value: BigInt(i + 1) })));
  t.true(transactions() <= 3, `${transactions()} transactions for 500 concurrent INCs`);
});

test('a GET queued behind writes sees them; GET-only batches need no write transaction', async (t) => {
  const { executor, transactions } = await setup(t);
  const inc = executor.execute(cmd('INC', 'b', 's', 'COUNT', '5'));
  const get = executor.execute(cmd('GET', 'b', 's'));
  t.deepEqual(await get, { type: 'int', value: 5n });
  t.deepEqual(await inc, { type: 'int', value: 5n });
  const before = transactions();
  t.deepEqual(await executor.execute(cmd('GET', 'b', 's')), { type: 'int', value: 5n });
  t.is(transactions(), before);
});

test('the queue is bounded: beyond it commands get BUSY, queued ones still complete', async (t) => {
  const { executor } = await setup(t, { queueMax: 10 });
  const results = await Promise.all(Array.from({ length: 30 }, () => executor.execute(cmd('INC', 'b', 's'))));
  const busy = results.filter((r) => r.type === 'error' && r.code === 'BUSY').length;
  t.true(busy > 0);
  t.is(results.filter((r) => r.type === 'int').length, 30 - busy);
  t.deepEqual(await executor.execute(cmd('GET', 'b', 's')), { type: 'int', value: BigInt(30 - busy) });
});

test('a storage failure is never acknowledged: STORAGE errors from then on', async (t) => {
  const { store, executor } = await setup(t);
  t.deepEqual(await executor.execute(cmd('INC', 'b', 's')), { type: 'int', value: 1n });
  store.write = () => Promise.reject(new Error('disk on fire'));
  const failed = await executor.execute(cmd('INC', 'b', 's'));
  t.is(failed.type === 'error' && failed.code, 'STORAGE');
  const after = await executor.execute(cmd('GET', 'b', 's'));
  t.is(after.type === 'error' && after.code, 'STORAGE');
});

test('close refuses new commands with SHUTTING_DOWN after finishing queued ones', async (t) => {
  const { executor } = await setup(t);
  const queued = executor.execute(cmd('INC', 'b', 's'));
  const closing = executor.close();
  const refused = await executor.execute(cmd('INC', 'b', 's'));
  t.is(refused.type === 'error' && refused.code, 'SHUTTING_DOWN');
  t.deepEqual(await queued, { type: 'int', value: 1n });
  await closing;
});
