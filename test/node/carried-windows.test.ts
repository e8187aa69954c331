/**
 * LmdbStore carries the first-windows of the oldest token, the oldest held token and the next
 * reservation to expire from one `writeNow` transaction to the next (lmdb-store.ts). Replicas
 * decide evictions and expiries from those answers, so a stale one would make replicas differ.
 * Seeded random histories of real LMDB transactions (commits, aborts mid-way, async writes and
 * snapshot imports in between) check every `first` against a model of the committed state plus
 * the transaction's own writes, and the store's state against the model after each transaction.
 */
import test from 'ava';
import fc from 'fast-check';
import { LmdbStore } from '../../node/state-machine/lmdb-store.ts';
import { MemoryKv, type KvEntry, type KvTxn } from '../../node/state-machine/kv.ts';
import { SPACE_META, SPACE_TOKEN_HELD, SPACE_TOKEN_ORDER } from '../../node/state-machine/keys.ts';
import { SPACE_SERIES_EXPIRY } from '../../node/state-machine/series-keys.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { copyKv } from '../helpers/kv-copy.ts';

const SPACES = [SPACE_TOKEN_ORDER, SPACE_TOKEN_HELD, SPACE_SERIES_EXPIRY, SPACE_META, 0x05];
const space = fc.constantFrom(...SPACES);
// A tiny alphabet after the space byte: puts, removes and firsts keep hitting the same keys.
const key = fc.tuple(space, fc.uint8Array({ minLength: 0, maxLength: 2, max: 3 })).map(([s, rest]) => Buffer.from([s, ...rest]));
const prefix = fc.oneof(space.map((s) => Buffer.of(s)), key);
const value = fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => Buffer.from(b));
const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('first' as const), prefix }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), key }) },
  // Many keys at once under one space: windows pass their 64-key bound and are cut back.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fill' as const), space, count: fc.integer({ min: 1, max: 90 }), value }) },
  // The smallest keys of a space removed, as evictions do: a cut-back window runs dry and refills.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), space, count: fc.integer({ min: 1, max: 90 }) }) },
);
const txn = fc.record({
  how: fc.constantFrom('now', 'now', 'now', 'now', 'now', 'abort', 'async', 'import'),
  ops: fc.array(op, { maxLength: 12 }),
  imported: fc.array(fc.tuple(key, value), { maxLength: 10 }),
});

type Op = { kind: 'first'; prefix: Buffer } | { kind: 'put'; key: Buffer; value: Buffer } | { kind: 'remove'; key: Buffer } | { kind: 'fill'; space: number; count: number; value: Buffer } | { kind: 'drain'; space: number; count: number };

const show = (e: KvEntry | undefined): string => (e === undefined ? '-' : `${e.key.toString('hex')}=${e.value.toString('hex')}`);


/** Runs `ops` on the store's transaction and on `model`; the first `first` that differs is returned. */
function run(txn: KvTxn, model: MemoryKv, ops: readonly Op[]): string | null {
  for (const o of ops) {
    if (o.kind === 'first') {
      const got = show(txn.first(o.prefix));
      const want = show(model.first(o.prefix));
      if (got !== want) return `first(${o.prefix.toString('hex')}): ${got}, model ${want}`;
    } else if (o.kind === 'put') {
      txn.put(o.key, o.value);
      model.put(o.key, o.value);
    } else if (o.kind === 'drain') {
      for (const e of [...model.scan(Buffer.of(o.space))].slice(0, o.count)) {
        txn.remove(e.key);
        model.remove(e.key);
      }
    } else if (o.kind === 'fill') {
      for (let i = 0; i < o.count; i++) {
        const k = Buffer.of(o.space, 9, i);
        txn.put(k, o.value);
        model.put(k, o.value);
      }
    } else {
      txn.remove(o.key);
      model.remove(o.key);
    }
  }
  return null;
}

function stateOf(store: LmdbStore): string {
  return store.read((kv) => [...kv.scan(Buffer.alloc(0))].map(show).join());
}

test('first answers stay exact across writeNow transactions, aborts, async writes and snapshot imports', async (t) => {
  const root = await tempDir(t);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(txn, { minLength: 1, maxLength: 25 }), async (history) => {
      const store = LmdbStore.open({ path: `${root}/s${n}`, sync: false });
      const donor = LmdbStore.open({ path: `${root}/d${n++}`, sync: false });
      try {
        let model = new MemoryKv();
        for (const [i, h] of history.entries()) {
          const next = copyKv(model);
          let wrong: string | null = null;
          if (h.how === 'import') {
            donor.writeNow((kv) => {
              for (const e of [...kv.scan(Buffer.alloc(0))]) kv.remove(Buffer.from(e.key));
              for (const [k, v] of h.imported) kv.put(k, v);
            });
            await store.importSnapshot(donor.exportSnapshot());
            model = new MemoryKv();
            for (const [k, v] of h.imported) model.put(k, v);
          } else if (h.how === 'async') {
            wrong = await store.write((kv) => run(kv, next, h.ops));
            model = next;
          } else if (h.how === 'abort') {
            const aborted = new Error('abort');
            try {
              store.writeNow((kv) => {
                wrong = run(kv, next, h.ops);
                throw aborted;
              });
            } catch (err) {
              if (err !== aborted) throw err;
            }
          } else {
            wrong = store.writeNow((kv) => run(kv, next, h.ops));
            model = next;
          }
          if (wrong !== null) throw new Error(`transaction ${i} (${h.how}): ${wrong}`);
          const want = [...model.entries()].map(show).join();
          if (stateOf(store) !== want) throw new Error(`after transaction ${i} (${h.how}): state differs from the model`);
        }
      } finally {
        await store.close();
        await donor.close();
      }
    }),
    { numRuns: 150, seed: 20261129 },
  );
  t.pass();
});

test('a write inside a write transaction, or a writeNow whose fn returns a promise, is refused and leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const store = LmdbStore.open({ path: `${dir}/s`, sync: false });
  t.teardown(() => store.close());
  const k = Buffer.of(SPACE_TOKEN_ORDER, 1);
  store.writeNow((kv) => kv.put(k, Buffer.of(1)));
  // A nested one would be an LMDB child transaction the outer windows never saw.
  t.throws(() => store.writeNow((kv) => {
    kv.put(Buffer.of(SPACE_TOKEN_ORDER, 0), Buffer.of(2));
    store.writeNow((inner) => inner.put(Buffer.of(SPACE_TOKEN_ORDER, 0), Buffer.of(3)));
  }), { message: /inside another write/ });
  t.throws(() => store.writeNow((kv) => {
    kv.put(Buffer.of(SPACE_TOKEN_ORDER, 0), Buffer.of(4));
    return Promise.resolve();
  }), { message: /returned a promise/ });
  t.is(stateOf(store), show({ key: k, value: Buffer.of(1) }));
  t.is(store.writeNow((kv) => show(kv.first(Buffer.of(SPACE_TOKEN_ORDER)))), show({ key: k, value: Buffer.of(1) }), 'the carried window was not left with what was refused');
});

test('a window that held every key and then took more than its bound is cut back, and refills once drained', async (t) => {
  const dir = await tempDir(t);
  const store = LmdbStore.open({ path: `${dir}/s`, sync: false });
  t.teardown(() => store.close());
  const prefix = Buffer.of(SPACE_TOKEN_ORDER);
  const k = (i: number): Buffer => Buffer.of(SPACE_TOKEN_ORDER, i);
  t.is(store.writeNow((kv) => kv.first(prefix)), undefined, 'empty: the window holds every key (none)');
  store.writeNow((kv) => {
    for (let i = 0; i < 90; i++) kv.put(k(i), Buffer.of(i));
  });
  const first = store.writeNow((kv) => {
    for (let i = 0; i < 70; i++) kv.remove(k(i));
    return kv.first(prefix);
  });
  t.is(first === undefined ? '-' : show(first), show({ key: k(70), value: Buffer.of(70) }));
});
