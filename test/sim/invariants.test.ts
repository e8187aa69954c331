/** The safety checker must flag each broken invariant it claims to check. */
import test from 'ava';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { EntryType, type Entry, type Message } from '../../node/raft/types.ts';
import { SafetyChecker } from './invariants.ts';
import { encodeInc } from './state-machine.ts';
import { SimViolation } from './violation.ts';

const conf = { voters: ['n1', 'n2', 'n3'], learners: [] };

function entry(index: number, term: number, payload = ''): Entry {
  return { index, term, type: EntryType.Normal, data: payload ? new TextEncoder().encode(payload) : new Uint8Array(0) };
}

function persist(c: SafetyChecker, id: string, s: MemoryStorage, entries: Entry[], hs?: { term: number; vote: string | null; commit: number }) {
  c.beforeAppend(id, s, entries);
  s.append(entries);
  c.afterAppend(id, s, entries);
  if (hs) {
    s.setHardState(hs);
    c.onHardState(id, hs, s);
  }
}

function violated(t: { is: (a: unknown, b: unknown) => void; fail: (m: string) => void }, property: string, fn: () => void) {
  try {
    fn();
    t.fail(`expected ${property}`);
  } catch (err) {
    t.is(err instanceof SimViolation ? err.property : String(err), property);
  }
}

test('two leaders in one term', (t) => {
  const c = new SafetyChecker();
  const s1 = new MemoryStorage(conf);
  const s2 = new MemoryStorage(conf);
  persist(c, 'n1', s1, [], { term: 2, vote: 'n1', commit: 0 });
  persist(c, 'n2', s2, [], { term: 2, vote: 'n2', commit: 0 });
  c.onLeader('n1', 2, s1);
  violated(t, 'one-leader-per-term', () => c.onLeader('n2', 2, s2));
});

test('a vote changed within a term across a restart', (t) => {
  const c = new SafetyChecker();
  const s = new MemoryStorage(conf);
  persist(c, 'n1', s, [], { term: 3, vote: 'n2', commit: 0 });
  const fresh = new MemoryStorage(conf); // the vote was lost
  violated(t, 'double-vote', () => persist(c, 'n1', fresh, [], { term: 3, vote: 'n3', commit: 0 }));
});

test('term going backwards', (t) => {
  const c = new SafetyChecker();
  const s = new MemoryStorage(conf);
  persist(c, 'n1', s, [], { term: 3, vote: null, commit: 0 });
  violated(t, 'term-monotonic', () => persist(c, 'n1', s, [], { term: 2, vote: null, commit: 0 }));
});

test('two different entries with the same index and term', (t) => {
  const c = new SafetyChecker();
  persist(c, 'n1', new MemoryStorage(conf), [entry(1, 1, 'x')]);
  violated(t, 'log-matching', () => persist(c, 'n2', new MemoryStorage(conf), [entry(1, 1, 'y')]));
});

test('same index and term over different prefixes', (t) => {
  const c = new SafetyChecker();
  persist(c, 'n1', new MemoryStorage(conf), [entry(1, 1), entry(2, 2)]);
  violated(t, 'log-matching', () => persist(c, 'n2', new MemoryStorage(conf), [entry(1, 2), entry(2, 2)]));
});

test('a new leader missing a committed entry', (t) => {
  const c = new SafetyChecker();
  const s1 = new MemoryStorage(conf);
  persist(c, 'n1', s1, [entry(1, 1), entry(2, 1, 'x')], { term: 1, vote: 'n1', commit: 2 });
  const s3 = new MemoryStorage(conf);
  persist(c, 'n3', s3, [entry(1, 1)], { term: 2, vote: 'n3', commit: 1 });
  violated(t, 'leader-completeness', () => c.onLeader('n3', 2, s3));
});

test('a committed entry replaced', (t) => {
  const c = new SafetyChecker();
  const s = new MemoryStorage(conf);
  persist(c, 'n1', s, [entry(1, 1), entry(2, 1)], { term: 1, vote: null, commit: 2 });
  violated(t, 'truncated-committed', () => persist(c, 'n1', s, [entry(2, 2)]));
});

test('nodes applying different entries at one index', (t) => {
  const c = new SafetyChecker();
  const s1 = new MemoryStorage(conf);
  const s2 = new MemoryStorage(conf);
  persist(c, 'n1', s1, [entry(1, 1)], { term: 1, vote: null, commit: 1 });
  persist(c, 'n2', s2, [entry(1, 1)], { term: 1, vote: null, commit: 1 });
  c.onApply('n1', entry(1, 1), 0, null);
  const other: Entry = { index: 1, term: 1, type: EntryType.Normal, data: encodeInc('a', 7) };
  violated(t, 'applied-prefix', () => c.onApply('n2', other, 0, { opId: 7, key: 'a', value: 1 }));
});

test('applying out of order or beyond commit', (t) => {
  const c = new SafetyChecker();
  const s = new MemoryStorage(conf);
  persist(c, 'n1', s, [entry(1, 1), entry(2, 1)], { term: 1, vote: null, commit: 1 });
  violated(t, 'apply-order', () => c.onApply('n1', entry(2, 1), 0, null));
  c.onApply('n1', entry(1, 1), 0, null);
  violated(t, 'apply-uncommitted', () => c.onApply('n1', entry(2, 1), 1, null));
});

test('a vote granted before it was persisted', (t) => {
  const c = new SafetyChecker();
  const s = new MemoryStorage(conf);
  const grant: Message = {
    type: 'voteResp', from: 'n2', to: 'n1', term: 4, index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0,
  };
  violated(t, 'persist-before-send', () => c.onSend('n2', grant, s));
  persist(c, 'n2', s, [], { term: 4, vote: 'n1', commit: 0 });
  t.notThrows(() => c.onSend('n2', grant, s));
});
