import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import { EntryType, RaftErrorCode, type Entry } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-raft-storage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: Buffer.from(`e${i}t${term}`) });
  return out;
}

const openS = (dir: string, shard = 's1', cluster = 'c1') => LmdbRaftStorage.open({ dir, shard, cluster });

test('fresh storage is empty and generates a persistent node id', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  t.is(s.firstIndex(), 1);
  t.is(s.lastIndex(), 0);
  t.is(s.term(0), 0);
  t.false(s.isInitialized());
  t.regex(s.identity.nodeId, /^[0-9a-f]{16}$/);
  const id = s.identity.nodeId;
  await s.close();
  const s2 = openS(dir);
  t.is(s2.identity.nodeId, id);
  await s2.close();
});

test('append, read back, and reopen after close', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 3 } });
  t.is(s.lastIndex(), 5);
  t.deepEqual(s.entries(2, 4, 1 << 20).map((e) => e.index), [2, 3]);
  t.is(Buffer.from(s.entries(5, 6, 100)[0]!.data).toString(), 'e5t1');
  t.is(s.term(5), 1);
  await s.close();
  const s2 = openS(dir);
  t.is(s2.lastIndex(), 5);
  t.deepEqual(s2.initialState().hardState, { term: 1, vote: 'a', commit: 3 });
  t.is(Buffer.from(s2.entries(1, 2, 10)[0]!.data).toString(), 'e1t1');
  t.true(s2.isInitialized());
  await s2.close();
});

test('appending at index i replaces stored entries >= i', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 10, 1) });
  await s.persist({ entries: ents(4, 6, 2) });
  t.is(s.lastIndex(), 6);
  t.deepEqual(s.entries(1, 7, 1 << 20).map((e) => e.term), [1, 1, 1, 2, 2, 2]);
  t.is(s.term(6), 2);
  t.throws(() => s.term(7), { code: RaftErrorCode.UNAVAILABLE } as never);
  await s.close();
  const s2 = openS(dir);
  t.is(s2.lastIndex(), 6);
  t.is(s2.entries(4, 5, 10)[0]!.term, 2);
  await s2.close();
});

test('appending with a gap or below compaction is refused', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 3, 1) });
  await t.throwsAsync(s.persist({ entries: ents(5, 6, 1) }), { code: ErrorCode.INTERNAL } as never);
  t.is(s.lastIndex(), 3);
  await s.close();
});

test('entries respects maxBytes but always returns at least one', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 10, 1) });
  t.is(s.entries(1, 11, 0).length, 1);
  t.is(s.entries(1, 11, 11).length, 2); // payloads "e1t1".. are 4 bytes each
  await s.close();
});

test('snapshot + compaction keep term(firstIndex-1) answerable, across reopen', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 10, 3) });
  const conf = { voters: ['a', 'b', 'c'], learners: [] };
  await s.saveSnapshot({ meta: { index: 7, term: 3, conf }, data: Buffer.from('image') });
  await s.compact(7);
  t.is(s.firstIndex(), 8);
  t.is(s.term(7), 3);
  t.throws(() => s.term(6), { code: RaftErrorCode.COMPACTED } as never);
  t.throws(() => s.entries(7, 9, 100), { code: RaftErrorCode.COMPACTED } as never);
  t.deepEqual(s.entries(8, 11, 1 << 20).map((e) => e.index), [8, 9, 10]);
  await t.throwsAsync(s.compact(9), { code: ErrorCode.INTERNAL } as never);
  await s.close();
  const s2 = openS(dir);
  t.is(s2.firstIndex(), 8);
  t.is(s2.lastIndex(), 10);
  t.is(s2.term(7), 3);
  t.deepEqual(s2.initialState().confState, conf);
  t.is(Buffer.from(s2.snapshot().data).toString(), 'image');
  t.is(s2.snapshot().meta.index, 7);
  await s2.close();
});

test('installing a snapshot replaces the whole log', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 5, 1) });
  const conf = { voters: ['x'], learners: ['y'] };
  await s.persist({ snapshot: { meta: { index: 20, term: 4, conf }, data: Buffer.from('snap') }, entries: ents(21, 22, 4) });
  t.is(s.firstIndex(), 21);
  t.is(s.lastIndex(), 22);
  t.is(s.term(20), 4);
  t.throws(() => s.term(5), { code: RaftErrorCode.COMPACTED } as never);
  await s.close();
  const s2 = openS(dir);
  t.is(s2.firstIndex(), 21);
  t.is(s2.lastIndex(), 22);
  t.deepEqual(s2.initialState().confState, conf);
  await s2.close();
});

test('bootstrap stores the initial voters in a snapshot at index 1; a second bootstrap is refused', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.bootstrap({ voters: [s.identity.nodeId], learners: [] }, Buffer.from('img'));
  t.true(s.isInitialized());
  t.is(s.firstIndex(), 2);
  t.is(s.lastIndex(), 1);
  t.is(s.term(1), 1);
  await t.throwsAsync(s.bootstrap({ voters: ['z'], learners: [] }, Buffer.from('x')), { code: ErrorCode.INTERNAL } as never);
  await s.close();
  const s2 = openS(dir);
  t.deepEqual(s2.initialState().confState.voters, [s2.identity.nodeId]);
  t.deepEqual(s2.initialState().hardState, { term: 1, vote: null, commit: 1 });
  t.is(Buffer.from(s2.snapshot().data).toString(), 'img');
  t.is(s2.lastIndex(), 1);
  await s2.close();
});

test("starting against another shard's or cluster's data is refused", async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir, 's1', 'c1');
  await s.close();
  t.throws(() => openS(dir, 's2', 'c1'), { code: ErrorCode.IDENTITY_MISMATCH } as never);
  t.throws(() => openS(dir, 's1', 'other'), { code: ErrorCode.IDENTITY_MISMATCH } as never);
  const again = openS(dir, 's1', 'c1');
  t.is(again.identity.shard, 's1');
  await again.close();
});

test('meta records survive reopen', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.putMeta('members', { a: '127.0.0.1:1' });
  await s.close();
  const s2 = openS(dir);
  t.deepEqual(s2.getMeta('members'), { a: '127.0.0.1:1' });
  await s2.close();
});
