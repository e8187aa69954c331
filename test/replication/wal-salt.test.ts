// The log's segment salts (node/replication/wal-codec.ts): every segment starts with a SEGMENT
// record, later records' checksums are seeded with its salt, a log written before salts still
// opens and is never written to again, and a SEGMENT record anywhere but first is not a record.
import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry, type HardState } from '../../node/raft/types.ts';
import { RecordKind, decodeRecord, encodeEntries, encodeHardState, encodeSegmentHeader, recordLength } from '../../node/replication/wal-codec.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { segmentRecords } from '../helpers/wal-records.ts';

const segments = (dir: string): string[] => readdirSync(dir).filter((f) => /^seg-\d+\.wal$/.test(f)).sort();
const HS: HardState = { term: 3, vote: 'n1', commit: 2 };

function ents(from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 3, type: EntryType.Normal, data: Buffer.from(`entry ${i}`) });
  return out;
}

function saltOf(file: string): number {
  const first = segmentRecords(readFileSync(file))[0]?.rec;
  if (first?.kind !== RecordKind.Segment) throw new Error(`${file} does not start with a SEGMENT record`);
  return first.salt;
}

test('a new segment starts with its salt; its other records are sealed with it (plain crc32 does not check them)', async (t) => {
  const dirs = [await tempDir(t), await tempDir(t)];
  for (const dir of dirs) {
    const w = Wal.open({ dir });
    w.writeSync({ entries: ents(1, 5), hardState: HS });
    await w.close();
  }
  const files = dirs.map((d) => join(d, segments(d)[0]!));
  const salts = files.map(saltOf);
  t.not(salts[0], 0);
  t.not(salts[0], salts[1], 'each log draws its own salt');
  const b = readFileSync(files[0]!);
  const records = segmentRecords(b);
  t.deepEqual(records.map((r) => r.rec.kind), [RecordKind.Segment, RecordKind.Entries, RecordKind.HardState]);
  for (const { at } of records.slice(1)) {
    const rec = b.subarray(at, at + recordLength(b, at));
    t.not(decodeRecord(rec, salts[0]), undefined);
    t.is(decodeRecord(rec, 0), undefined);
  }
});

test('a log written before salts opens; the next write starts a salted segment, and both read back after reopening', async (t) => {
  const dir = await tempDir(t);
  // What an older build wrote: unseeded checksums, no SEGMENT record.
  writeFileSync(join(dir, 'seg-0000000000000001.wal'), Buffer.concat([encodeHardState(HS), encodeEntries(ents(1, 4))]));
  const w = Wal.open({ dir });
  t.deepEqual(w.hardState(), HS);
  t.is(w.lastIndex(), 4);
  t.deepEqual(segments(dir), ['seg-0000000000000001.wal', 'seg-0000000000000002.wal'], 'the old segment takes no more writes');
  w.writeSync({ entries: ents(5, 8) });
  await w.close();
  t.not(saltOf(join(dir, 'seg-0000000000000002.wal')), 0);
  const again = Wal.open({ dir });
  t.is(again.lastIndex(), 8);
  t.deepEqual(Buffer.from(again.entry(2).data).toString(), 'entry 2');
  t.deepEqual(Buffer.from(again.entry(7).data).toString(), 'entry 7');
  t.deepEqual(again.hardState(), HS);
  t.deepEqual(segments(dir), ['seg-0000000000000001.wal', 'seg-0000000000000002.wal'], 'a salted last segment is written on');
  await again.close();
});

test('a SEGMENT record after the first is damage, not a new salt (its checksum is unseeded, so anyone can spell one)', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, preallocBytes: 0 });
  w.writeSync({ entries: ents(1, 5), hardState: HS });
  await w.close();
  const file = join(dir, segments(dir)[0]!);
  const b = readFileSync(file);
  writeFileSync(file, Buffer.concat([b, encodeSegmentHeader(7), encodeEntries(ents(6, 6), 7)]));
  const err = t.throws(() => Wal.open({ dir }));
  t.is((err as { code?: string }).code, ErrorCode.STORAGE);
});
