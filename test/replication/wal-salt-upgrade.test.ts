// A review of the segment salts (be03803): logs written before salts (hand-built at salt 0) open, upgrade, compact and
// reopen without losing entries or the hard state; queued writes across rolls read back.
import test from 'ava';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry, type HardState } from '../../node/raft/types.ts';
import { RecordKind, encodeEntries, encodeHardState, encodeReset } from '../../node/replication/wal-codec.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { segmentRecords } from '../helpers/wal-records.ts';

const segs = (dir: string): string[] => readdirSync(dir).filter((f) => /^seg-\d+\.wal$/.test(f)).sort();
const name = (n: number): string => `seg-${String(n).padStart(16, '0')}.wal`;
const HS: HardState = { term: 3, vote: 'n1', commit: 4 };
function ents(from: number, to: number, term = 3): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: Buffer.from(`entry ${i}`) });
  return out;
}
const data = (w: Wal, i: number): string => Buffer.from(w.entry(i).data).toString();

function reopenCheck(t: import('ava').ExecutionContext, dir: string, first: number, last: number, hs: HardState): void {
  for (let k = 0; k < 2; k++) {
    const w = Wal.open({ dir });
    t.deepEqual(w.hardState(), hs);
    t.is(w.firstIndex(), first);
    t.is(w.lastIndex(), last);
    for (let i = first; i <= last; i++) t.is(data(w, i), `entry ${i}`);
    w.closeSync();
  }
  for (const f of segs(dir).slice(1)) t.is(segmentRecords(readFileSync(join(dir, f)))[0]?.rec.kind, RecordKind.Segment, f);
}

test('old log ending in preallocated zeros: opens, zeros cut, new writes in a salted segment', async (t) => {
  const dir = await tempDir(t);
  const recs = Buffer.concat([encodeHardState(HS), encodeEntries(ents(1, 4))]);
  writeFileSync(join(dir, name(1)), Buffer.concat([recs, Buffer.alloc(1 << 16)]));
  const w = Wal.open({ dir });
  t.is(statSync(join(dir, name(1))).size, recs.length);
  w.writeSync({ entries: ents(5, 8) });
  await w.close();
  reopenCheck(t, dir, 1, 8, HS);
});

test('old log ending in a torn write: cut, then upgraded', async (t) => {
  const dir = await tempDir(t);
  const recs = Buffer.concat([encodeHardState(HS), encodeEntries(ents(1, 4))]);
  writeFileSync(join(dir, name(1)), Buffer.concat([recs, encodeEntries(ents(5, 5)).subarray(0, 20)]));
  const w = Wal.open({ dir });
  t.is(w.lastIndex(), 4);
  w.writeSync({ entries: ents(5, 6) });
  await w.close();
  reopenCheck(t, dir, 1, 6, HS);
});

test('old log: several segments, a headless (empty) last one; compaction deletes the old ones; hard state kept', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, name(1)), Buffer.concat([encodeHardState({ ...HS, commit: 1 }), encodeEntries(ents(1, 4))]));
  writeFileSync(join(dir, name(2)), Buffer.concat([encodeHardState(HS), encodeEntries(ents(5, 8))]));
  writeFileSync(join(dir, name(3)), Buffer.alloc(0));
  const w = Wal.open({ dir });
  t.deepEqual(w.hardState(), HS);
  t.is(w.lastIndex(), 8);
  w.compact(8);
  t.deepEqual(segs(dir), [name(4)]);
  await w.close();
  const again = Wal.open({ dir });
  t.deepEqual(again.hardState(), HS);
  again.writeSync({ entries: ents(9, 10) });
  again.closeSync();
  reopenCheck(t, dir, 9, 10, HS);
});

test('old log with a RESET record: the view after it survives the upgrade, writes and compaction', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, name(1)), Buffer.concat([encodeHardState(HS), encodeEntries(ents(1, 4)), encodeReset({ index: 10, term: 2 }), encodeHardState({ ...HS, commit: 10 })]));
  const w = Wal.open({ dir });
  t.is(w.firstIndex(), 11);
  t.is(w.lastIndex(), 10);
  w.writeSync({ entries: ents(11, 12) });
  w.compact(10);
  await w.close();
  reopenCheck(t, dir, 11, 12, { ...HS, commit: 10 });
});

test('crash while the salted segment was being created at open (a .new file left): opens again', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, name(1)), Buffer.concat([encodeHardState(HS), encodeEntries(ents(1, 4))]));
  writeFileSync(join(dir, `${name(2)}.new`), Buffer.from([0, 0, 0, 6, 1, 2]));
  const w = Wal.open({ dir });
  t.is(w.lastIndex(), 4);
  w.writeSync({ entries: ents(5, 5) });
  await w.close();
  reopenCheck(t, dir, 1, 5, HS);
});

test('queued writes across many rolls (small segments) read back after reopen, old log upgraded first', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, name(1)), Buffer.concat([encodeHardState(HS), encodeEntries(ents(1, 4))]));
  const w = Wal.open({ dir, segmentBytesMax: 300, preallocBytes: 1024 });
  const ps: Promise<void>[] = [];
  for (let i = 5; i <= 200; i++) {
    ps.push(w.write({ entries: ents(i, i), hardState: { ...HS, commit: i } }));
    if (i % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(ps);
  await w.close();
  t.true(segs(dir).length > 2, `${segs(dir).length} segments: the writes rolled segments`); // how many depends on group commit
  reopenCheck(t, dir, 1, 200, { ...HS, commit: 200 });
});
