/**
 * `scan(prefix, after)`: the entries of `prefix` greater than `after`, in key order, on the
 * in-memory store and on real LMDB alike (slot moves page through a shard's data with it: a page
 * starts after the last key of the one before, instead of stepping over every key before it).
 */
import test from 'ava';
import fc from 'fast-check';
import { LmdbStore, MemoryKv, type KvEntry } from '../../node/state-machine/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const key = fc.uint8Array({ minLength: 1, maxLength: 4, max: 3 }).map((b) => Buffer.from([0x05, ...b]));
const show = (e: KvEntry): string => e.key.toString('hex');

test('scan after a cursor: real LMDB and the in-memory store agree with a filter of the whole scan (seeded)', async (t) => {
  const store = LmdbStore.open({ path: await tempDir(t), sync: false });
  t.teardown(() => store.close());
  const memory = new MemoryKv();
  const keys = fc.sample(fc.uniqueArray(key, { maxLength: 60, selector: (k) => k.toString('hex') }), { numRuns: 1, seed: 42 })[0]!;
  await store.write((txn) => {
    for (const k of keys) txn.put(k, Buffer.from('v'));
  });
  for (const k of keys) memory.put(k, Buffer.from('v'));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 2, max: 3 }), fc.option(fc.uint8Array({ minLength: 0, maxLength: 5, max: 4 })), (p, a) => {
      const prefix = Buffer.from([0x05, ...p]);
      const after = a === null ? undefined : Buffer.from([0x05, ...a].slice(0, a.length === 0 ? 0 : undefined));
      const want = [...memory.scan(prefix)].filter((e) => after === undefined || Buffer.compare(e.key, after) > 0).map(show).join();
      const fromMemory = [...memory.scan(prefix, after)].map(show).join();
      const fromLmdb = store.read((kv) => [...kv.scan(prefix, after)].map(show).join());
      return fromMemory === want && fromLmdb === want;
    }),
    { numRuns: 2000, seed: 7 },
  );
  t.pass();
});

test('has: real LMDB answers as the in-memory store, in a write transaction after its own puts and removes, for values of 60 KiB', async (t) => {
  const store = LmdbStore.open({ path: await tempDir(t), sync: false });
  t.teardown(() => store.close());
  const memory = new MemoryKv();
  const big = Buffer.alloc(60 * 1024, 7);
  const keys = fc.sample(fc.uniqueArray(key, { minLength: 20, maxLength: 40, selector: (k) => k.toString('hex') }), { numRuns: 1, seed: 43 })[0]!;
  const [kept, removed, added] = [keys.slice(0, 10), keys.slice(10, 15), keys.slice(15)];
  await store.write((txn) => {
    for (const k of [...kept, ...removed]) txn.put(k, big);
  });
  for (const k of kept) memory.put(k, big);
  const probes = [...keys, Buffer.from([0x05]), Buffer.from([0x06])];
  const inWrite = await store.write((txn) => {
    for (const k of removed) txn.remove(k);
    for (const k of added) txn.put(k, big);
    return probes.map((k) => txn.has(k));
  });
  for (const k of added) memory.put(k, big);
  t.deepEqual(inWrite, probes.map((k) => memory.has(k)));
  t.deepEqual(store.read((kv) => probes.map((k) => kv.has(k))), probes.map((k) => memory.has(k)));
  t.is(inWrite.filter(Boolean).length, kept.length + added.length);
});
