import test from 'ava';
import fc from 'fast-check';
import { CachedTxn } from '../../node/state-machine/cached-txn.ts';
import { MemoryKv, type KvEntry } from '../../node/state-machine/kv.ts';

// Keys from a tiny alphabet so that puts, removes, firsts and scans keep hitting the same keys
// and prefixes; space 0x00 is deferred (written back at flush), like the meta counters, and space
// 0x01 is uncached (read and written straight through), like the token records.
const key = fc.uint8Array({ minLength: 1, maxLength: 3, max: 2 }).map((b) => Buffer.from(b));
const prefix = fc.uint8Array({ minLength: 0, maxLength: 2, max: 2 }).map((b) => Buffer.from(b));
const value = fc.uint8Array({ minLength: 0, maxLength: 5 }).map((b) => Buffer.from(b));
const op = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), key }),
  fc.record({ kind: fc.constant('has' as const), key }),
  fc.record({ kind: fc.constant('first' as const), prefix }),
  fc.record({ kind: fc.constant('scan' as const), prefix }),
  fc.record({ kind: fc.constant('put' as const), key, value }),
  fc.record({ kind: fc.constant('remove' as const), key }),
);

const show = (e: KvEntry | undefined): string => (e === undefined ? '-' : `${e.key.toString('hex')}=${e.value.toString('hex')}`);

// Windows of 1 and 2 keys per `first` prefix are refilled all the time; 64 holds every key here.
for (const window of [1, 2, 64]) {
test(`CachedTxn answers exactly like the transaction under it, and leaves the same state after flush (first window ${window})`, (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(key, value), { maxLength: 12 }), fc.array(op, { maxLength: 60 }), (initial, ops) => {
      const plain = new MemoryKv();
      const under = new MemoryKv();
      for (const [k, v] of initial) {
        plain.put(k, v);
        under.put(k, v);
      }
      const cached = new CachedTxn(under, [0], [1], window);
      for (const o of ops) {
        switch (o.kind) {
          case 'get':
            if (plain.get(o.key)?.toString('hex') !== cached.get(o.key)?.toString('hex')) return false;
            break;
          case 'has':
            if (plain.has(o.key) !== cached.has(o.key)) return false;
            break;
          case 'first':
            if (show(plain.first(o.prefix)) !== show(cached.first(o.prefix))) return false;
            break;
          case 'scan':
            if ([...plain.scan(o.prefix)].map(show).join() !== [...cached.scan(o.prefix)].map(show).join()) return false;
            break;
          case 'put':
            plain.put(o.key, o.value);
            cached.put(o.key, o.value);
            break;
          case 'remove':
            plain.remove(o.key);
            cached.remove(o.key);
            break;
        }
      }
      cached.flush();
      return [...plain.entries()].map(show).join() === [...under.entries()].map(show).join();
    }),
    { numRuns: 2000, seed: 9 },
  );
  t.pass();
});
}

test('a value handed to put and changed afterwards does not change what CachedTxn returns', (t) => {
  const cached = new CachedTxn(new MemoryKv(), [0]);
  for (const k of [Buffer.of(0, 1), Buffer.of(1, 1)]) {
    const v = Buffer.from('abc');
    cached.put(k, v);
    v.fill(0);
    t.is(cached.get(k)?.toString(), 'abc');
  }
});
