import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import { isChunked } from '../../node/replication/snapshot-images.ts';
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

test('a hard state that only moves the commit index is written with the next append, never alone', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 1 } });
  await s.persist({ entries: [], hardState: { term: 1, vote: 'a', commit: 4 } });
  t.is(s.hardState().commit, 4, 'the core sees the new commit at once');
  await s.close();
  const reopened = openS(dir);
  t.deepEqual(reopened.hardState(), { term: 1, vote: 'a', commit: 1 }, 'not on disk on its own');
  // A vote or term change is never deferred.
  await reopened.persist({ entries: [], hardState: { term: 2, vote: 'b', commit: 3 } });
  await reopened.persist({ entries: [], hardState: { term: 2, vote: 'b', commit: 5 } });
  await reopened.persist({ entries: ents(6, 6, 2) });
  await reopened.close();
  const again = openS(dir);
  t.deepEqual(again.hardState(), { term: 2, vote: 'b', commit: 5 }, 'the deferred commit rode the append');
  t.is(again.lastIndex(), 6);
  await again.close();
});

test('the snapshot image lives in its own binary db; its head is readable without the image', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  const image = Buffer.alloc(200_000, 3);
  image.write('HEAD', 0);
  await s.bootstrap({ voters: ['a'], learners: [] }, image);
  await s.close();
  const reopened = openS(dir);
  t.true(Buffer.from(reopened.snapshot().data).equals(image));
  const head = Buffer.from(reopened.snapshotHead()!);
  t.is(head.length, 64 * 1024);
  t.true(head.equals(image.subarray(0, 64 * 1024)));
  await reopened.close();
});

/** A bootstrapped storage with entries 2..40 committed. */
async function bootstrappedWithLog(t: { teardown(fn: () => Promise<void>): void }): Promise<{ dir: string; s: LmdbRaftStorage }> {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.bootstrap({ voters: ['a'], learners: [] }, Buffer.from('first image'));
  await s.persist({ entries: ents(2, 40, 1), hardState: { term: 1, vote: 'a', commit: 40 } });
  return { dir, s };
}

test('a streamed snapshot is written in chunks and becomes current only at its end', async (t) => {
  const { dir, s } = await bootstrappedWithLog(t);
  const parts = Array.from({ length: 30 }, (_, i) => Buffer.alloc(10_000 + i, i));
  let pulled = 0;
  const chunks = (function* () {
    for (const p of parts) {
      pulled++;
      yield p;
    }
  })();
  const saving = s.saveSnapshotStreamed({ index: 20, term: 1, conf: { voters: ['a'], learners: [] } }, chunks);
  // Until the last chunk is written, the previous image is the current one.
  t.is(s.snapshotMeta().index, 1);
  t.true(await saving);
  t.is(pulled, 30);
  await s.compact(20);
  await s.close();
  const reopened = openS(dir);
  const snap = reopened.snapshot();
  t.is(snap.meta.index, 20);
  t.true(Buffer.from(snap.data).equals(Buffer.concat(parts)));
  t.is(reopened.firstIndex(), 21);
  await reopened.close();
});

test('a streamed snapshot overtaken by an InstallSnapshot is dropped, and the compaction point never moves back', async (t) => {
  const { dir, s } = await bootstrappedWithLog(t);
  const chunks = Array.from({ length: 40 }, () => Buffer.alloc(50_000, 1));
  const saving = s.saveSnapshotStreamed({ index: 20, term: 1, conf: { voters: ['a'], learners: [] } }, chunks);
  const received = Buffer.from('image from the leader at 100');
  await s.persist({ snapshot: { meta: { index: 100, term: 2, conf: { voters: ['a', 'b'], learners: [] } }, data: received }, entries: [] });
  t.false(await saving);
  await s.compact(20); // what the driver would do had it not checked: must change nothing
  t.is(s.firstIndex(), 101);
  await s.close();
  const reopened = openS(dir);
  t.is(reopened.snapshot().meta.index, 100);
  t.true(Buffer.from(reopened.snapshot().data).equals(received));
  t.is(reopened.firstIndex(), 101);
  t.is(reopened.lastIndex(), 100);
  await reopened.close();
});

test('writes queued behind each other (a leader\'s background writes) chain; the stored commit never passes the stored log', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 2, 1), hardState: { term: 1, vote: 'a', commit: 0 } });
  // Three writes started without waiting, and a commit that ran ahead of them (through followers).
  const w1 = s.persist({ entries: ents(3, 4, 1) });
  await s.persist({ entries: [], hardState: { term: 1, vote: 'a', commit: 9 } });
  const w2 = s.persist({ entries: ents(5, 7, 1) });
  const w3 = s.persist({ entries: ents(8, 8, 1) });
  t.is(s.lastIndex(), 2, 'nothing counts before its commit resolves');
  await w1;
  t.true(s.lastIndex() >= 4);
  await Promise.all([w2, w3]);
  t.is(s.lastIndex(), 8);
  t.is(s.hardState().commit, 9, 'the in-memory commit is not moved back by an older write resolving');
  t.deepEqual(s.entries(1, 9, 1 << 20).map((e) => e.index), [1, 2, 3, 4, 5, 6, 7, 8]);
  await s.close();
  const s2 = openS(dir);
  t.is(s2.lastIndex(), 8);
  t.true(s2.initialState().hardState.commit <= 8, 'on disk the commit is clamped to the entries on disk');
  t.true(s2.initialState().hardState.commit >= 4);
  await s2.close();
});

test('a commit clamped to the entries written with it is written whole with later entries', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  await s.persist({ entries: ents(1, 2, 1), hardState: { term: 1, vote: 'a', commit: 0 } });
  await s.persist({ entries: [], hardState: { term: 1, vote: 'a', commit: 8 } }); // learned through followers
  await s.persist({ entries: ents(3, 4, 1) }); // commit written as 4
  await s.persist({ entries: ents(5, 8, 1) }); // and now as 8
  await s.close();
  const s2 = openS(dir);
  t.is(s2.initialState().hardState.commit, 8);
  await s2.close();
});

/** A data dir as an older version left it: entries in LMDB db `log`, the hard state in meta `hs`, no log files. */
async function writeOlderVersionLog(dir: string, entries: readonly Entry[], hs: { term: number; vote: string; commit: number }): Promise<void> {
  const { open } = await import('lmdb');
  const { encodeEntryValue, indexKey } = await import('../../node/replication/log-entry-codec.ts');
  const { rmSync } = await import('node:fs');
  await openS(dir).close(); // creates the identity
  rmSync(join(dir, 'raft', 'wal'), { recursive: true, force: true });
  const env = open({ path: join(dir, 'raft'), maxDbs: 4 });
  const log = env.openDB<Buffer, Buffer>('log', { keyEncoding: 'binary', encoding: 'binary' });
  const meta = env.openDB<unknown, string>('meta', {});
  await env.transaction(() => {
    for (const e of entries) log.putSync(indexKey(e.index), encodeEntryValue(e));
    meta.putSync('hs', hs);
  });
  await env.close();
}

test('a log kept in LMDB by an older version is moved into the log files at open', async (t) => {
  const { open } = await import('lmdb');
  const dir = await tempDir(t);
  await writeOlderVersionLog(dir, ents(1, 5000, 2), { term: 2, vote: 'x', commit: 4000 });
  const m = openS(dir);
  t.is(m.lastIndex(), 5000);
  t.is(Buffer.from(m.entries(4321, 4322, 100)[0]!.data).toString(), 'e4321t2');
  t.deepEqual(m.initialState().hardState, { term: 2, vote: 'x', commit: 4000 });
  await m.close();
  const env2 = open({ path: join(dir, 'raft'), maxDbs: 4 });
  t.is(env2.openDB('log', { keyEncoding: 'binary', encoding: 'binary' }).getKeysCount(), 0, 'the LMDB copy is gone');
  await env2.close();
  const again = openS(dir);
  t.is(again.lastIndex(), 5000);
  t.is(again.term(5000), 2);
  await again.close();
});

/** What a crash between storing a received snapshot and restarting the log leaves: LMDB has the point, the log files no RESET. */
async function storeSnapshotPointOnly(dir: string, index: number, term: number): Promise<void> {
  const { open } = await import('lmdb');
  const env = open({ path: join(dir, 'raft'), maxDbs: 4 });
  const meta = env.openDB<unknown, string>('meta', {});
  await env.transaction(() => {
    meta.putSync('trunc', { index, term });
    meta.putSync('snap', { index, term, conf: { voters: ['a'], learners: [] } });
  });
  await env.close();
}

test('a snapshot stored without its log reset (a crash in between) is reconciled at open', async (t) => {
  for (const [snapIndex, snapTerm, expectLast] of [[5, 1, 10], [5, 9, 5], [15, 2, 15]] as const) {
    const dir = await tempDir(t);
    const s = openS(dir);
    await s.persist({ entries: ents(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 10 } });
    await s.close();
    await storeSnapshotPointOnly(dir, snapIndex, snapTerm);
    const r = openS(dir);
    t.is(r.firstIndex(), snapIndex + 1, `snapshot ${snapIndex}/t${snapTerm}`);
    t.is(r.lastIndex(), expectLast, `snapshot ${snapIndex}/t${snapTerm}: the old log is kept only if it holds the snapshot's entry`);
    t.is(r.term(snapIndex), snapTerm);
    t.true(r.initialState().hardState.commit <= expectLast);
    await r.close();
  }
});

test('after reconciling with a snapshot stored without its reset, entries appended next survive the next reopening', async (t) => {
  for (const [oldTo, snapIndex, snapTerm] of [[40, 50, 2], [100, 50, 2]] as const) {
    const dir = await tempDir(t);
    const s = openS(dir);
    await s.persist({ entries: ents(1, oldTo, 1), hardState: { term: 1, vote: 'a', commit: 10 } });
    await s.close();
    await storeSnapshotPointOnly(dir, snapIndex, snapTerm);
    const r = openS(dir);
    t.is(r.lastIndex(), snapIndex);
    await r.persist({ entries: ents(snapIndex + 1, snapIndex + 10, snapTerm), hardState: { term: snapTerm, vote: 'b', commit: snapIndex } });
    await r.close();
    const again = openS(dir);
    t.is(again.lastIndex(), snapIndex + 10, `old log to ${oldTo}: the acknowledged entries are still there`);
    t.is(again.term(snapIndex), snapTerm);
    t.is(again.term(snapIndex + 10), snapTerm);
    await again.close();
  }
});

test('a move of an LMDB log cut short by a crash is redone whole; the hard state comes along', async (t) => {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const dir = await tempDir(t);
  await writeOlderVersionLog(dir, ents(1, 9000, 3), { term: 3, vote: 'v', commit: 8000 });
  // What a crash mid-move leaves: a half-built directory beside an empty log directory.
  mkdirSync(join(dir, 'raft', 'wal.moving'), { recursive: true });
  writeFileSync(join(dir, 'raft', 'wal.moving', 'seg-0000000000000001.wal'), Buffer.alloc(100, 1));
  mkdirSync(join(dir, 'raft', 'wal'), { recursive: true });
  const m = openS(dir);
  t.is(m.lastIndex(), 9000);
  t.deepEqual(m.initialState().hardState, { term: 3, vote: 'v', commit: 8000 });
  await m.close();
});

test('a write larger than one record\'s bound is split into several records and reads back whole', async (t) => {
  const dir = await tempDir(t);
  const s = openS(dir);
  const big = ents(1, 24, 1).map((e) => ({ ...e, data: Buffer.alloc(1 << 20, `e${e.index}t1`) })); // 24 MiB in one persist
  await s.persist({ entries: big, hardState: { term: 1, vote: 'z', commit: 0 } });
  await s.persist({ entries: [], hardState: { term: 2, vote: 'y', commit: 0 } });
  await s.close();
  const { readdirSync, readFileSync } = await import('node:fs');
  const { RecordKind } = await import('../../node/replication/wal-codec.ts');
  const { segmentRecords } = await import('../helpers/wal-records.ts');
  const walDir = join(dir, 'raft', 'wal');
  let records = 0;
  for (const f of readdirSync(walDir)) {
    records += segmentRecords(readFileSync(join(walDir, f))).filter(({ rec }) => rec.kind === RecordKind.Entries).length;
  }
  t.true(records >= 2, `${records} entries records for one 24 MiB write`);
  const r = openS(dir);
  t.is(r.lastIndex(), 24);
  const last = r.entries(24, 25, 1 << 30)[0]!.data;
  t.is(last.length, 1 << 20);
  t.is(Buffer.from(last).subarray(0, 7).toString(), 'e24t1e2');
  t.deepEqual(r.initialState().hardState, { term: 2, vote: 'y', commit: 0 });
  await r.close();
});

test('a received image written over several transactions keeps its chunks while an own snapshot finishes first', async (t) => {
  const { dir, s } = await bootstrappedWithLog(t);
  // 12 MiB: more than one transaction's worth of chunks (8 x 1 MiB), so the own snapshot's
  // last transaction runs between the received image's first and last.
  const received = Buffer.alloc(12 << 20);
  for (let i = 0; i < received.length; i += 4096) received.writeUInt32BE(i, i);
  const installing = s.persist({ snapshot: { meta: { index: 100, term: 2, conf: { voters: ['a'], learners: [] } }, data: received }, entries: [] });
  const own = s.saveSnapshotStreamed({ index: 20, term: 1, conf: { voters: ['a'], learners: [] } }, [Buffer.from('own image at 20')]);
  await installing;
  t.true(await own, 'the own snapshot became current between the received image\'s transactions');
  t.true(Buffer.from(s.snapshot().data).equals(received));
  await s.close();
  const reopened = openS(dir);
  t.is(reopened.snapshot().meta.index, 100);
  t.true(Buffer.from(reopened.snapshot().data).equals(received), 'every chunk of the received image is there');
  await reopened.close();
});

test('a stored snapshot is read chunk by chunk from its own generation; once replaced, reading it fails', async (t) => {
  const { s } = await bootstrappedWithLog(t);
  const parts = Array.from({ length: 5 }, (_, i) => Buffer.alloc(300_000, i + 1));
  t.true(await s.saveSnapshotStreamed({ index: 20, term: 1, conf: { voters: ['a'], learners: [] } }, parts));
  const snap = s.snapshot();
  t.true(isChunked(snap));
  if (!isChunked(snap)) return;
  t.is(snap.bytes, 1_500_000);
  t.true(Buffer.concat([...snap.chunks()]).equals(Buffer.concat(parts)));
  // Reusing one buffer (ChunkReading.reuse): the same bytes for a reader that copies each chunk,
  // in one buffer throughout (no chunk-sized garbage per chunk).
  const copied: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for (const c of s.snapshotChunks({ reuse: true })) {
    copied.push(Buffer.from(c));
    buffers.add(c.buffer);
  }
  t.true(Buffer.concat(copied).equals(Buffer.concat(parts)));
  t.is(buffers.size, 1);
  t.true(Buffer.from(snap.data).equals(Buffer.concat(parts)), 'read whole through one reused buffer');
  // A reader that started before the replacement keeps its pinned image to the end.
  const early = snap.chunks();
  const first = early.next().value as Uint8Array;
  await s.persist({ snapshot: { meta: { index: 100, term: 2, conf: { voters: ['a'], learners: [] } }, data: Buffer.from('newer') }, entries: [] });
  t.true(Buffer.concat([first, ...early]).equals(Buffer.concat(parts)));
  // One that starts after it cannot mix the old meta with another image.
  t.throws(() => [...snap.chunks()]);
  t.is(Buffer.from(s.snapshot().data).toString(), 'newer');
  await s.close();
});
