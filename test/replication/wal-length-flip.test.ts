// A review: a flipped bit in the LENGTH field of a record written whole, early in the last
// segment, is taken for a torn write and every later (acknowledged) record is silently cut.
// README "Durability" promises a STORAGE error instead of dropping the records after it.
import test from 'ava';
import { closeSync, openSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { segmentRecords } from '../helpers/wal-records.ts';
import { RecordKind } from '../../node/replication/wal-codec.ts';

function ents(from: number, to: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 1, type: EntryType.Normal, data: Buffer.alloc(size, `e${i}`) });
  return out;
}
const seg = (dir: string): string => join(dir, readdirSync(dir).filter((f) => f.endsWith('.wal')).sort()[0]!);
/** Where the segment's second entries record starts (after its SEGMENT record and the first). */
const secondRecord = (bytes: Buffer): number => segmentRecords(bytes).filter(({ rec }) => rec.kind === RecordKind.Entries)[1]!.at;

for (const prealloc of [0, undefined]) {
  for (const [byte, mask] of [[1, 0x01], [2, 0x01]] as const) {
    test(`prealloc ${prealloc ?? 'default'}: bit ${mask} of length byte ${byte} of record 2 flipped -> STORAGE, not a cut`, async (t) => {
      const dir = await tempDir(t);
      const w = Wal.open({ dir, ...(prealloc === undefined ? {} : { preallocBytes: prealloc }) });
      for (let i = 1; i <= 100; i++) w.writeSync({ entries: ents(i, i, 100) }); // each acknowledged
      await w.close();
      const file = seg(dir);
      const bytes = readFileSync(file);
      bytes[secondRecord(bytes) + byte]! ^= mask; // record 2's length field (big-endian u32 at its offset 0)
      writeFileSync(file, bytes);
      let opened: Wal | undefined;
      let err: unknown;
      try { opened = Wal.open({ dir }); } catch (e) { err = e; }
      const cut = opened ? `opened with lastIndex ${opened.lastIndex()} of 100; file ${bytes.length} -> ${statSync(file).size} bytes` : '';
      await opened?.close();
      t.is((err as { code?: string } | undefined)?.code, ErrorCode.STORAGE, cut);
    });
  }
}

// A review: a version of wal-torn.ts (chainRunsToEnd, 711dbf0, reverted) required the valid records after a bad one
// to run on to zeros / the end of the file. A genuinely damaged OLD record (a flipped bit in its
// length) followed by acknowledged records and then a torn last write (a crash mid-write, the most
// common tail there is) no longer proves damage: the chain stops at the torn record, the damaged
// one is taken for the torn write and every acknowledged record after it is silently cut.
for (const prealloc of [0, undefined]) {
  test(`prealloc ${prealloc ?? 'default'}: record 2's length damaged, then a torn last write -> STORAGE, not a cut of 98 acknowledged records`, async (t) => {
    const dir = await tempDir(t);
    const w = Wal.open({ dir, ...(prealloc === undefined ? {} : { preallocBytes: prealloc }) });
    for (let i = 1; i <= 100; i++) w.writeSync({ entries: ents(i, i, 100) }); // each acknowledged
    const before = (w as unknown as { segments: { size: number }[] }).segments.at(-1)!.size;
    w.writeSync({ entries: ents(101, 101, 4000) }); // the last write: never acknowledged (crash)
    const end = (w as unknown as { segments: { size: number }[] }).segments.at(-1)!.size;
    await w.close();
    const file = seg(dir);
    const tornAt = before + 1024; // only its first 1024 bytes reached the disk
    if (prealloc === 0) truncateSync(file, tornAt);
    else {
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(end - tornAt), 0, end - tornAt, tornAt);
      closeSync(fd);
    }
    const bytes = readFileSync(file);
    bytes[secondRecord(bytes) + 1]! ^= 0x01; // bit rot in record 2's length field, written long ago
    writeFileSync(file, bytes);
    let opened: Wal | undefined;
    let err: unknown;
    try { opened = Wal.open({ dir }); } catch (e) { err = e; }
    const cut = opened ? `opened with lastIndex ${opened.lastIndex()} (records 2..100 were acknowledged); file ${bytes.length} -> ${statSync(file).size} bytes` : '';
    await opened?.close();
    t.is((err as { code?: string } | undefined)?.code, ErrorCode.STORAGE, cut);
  });
}
