// A review: wal-torn.ts wholeRecordAfter scans every byte offset after a bad record for a
// checksum-valid record. The torn record's own written prefix holds client bytes verbatim (a
// sequence name is 1..256 arbitrary bytes, codec.ts), so a name that happened to be (or was made
// to be) an encoded WAL record turned a genuine torn tail into "damage": after a crash mid-write
// the node refused to start (STORAGE) at every start, instead of cutting the unacknowledged tail.
// Segments' salts (wal-codec.ts) fixed it: a client cannot seal a record as the node does.
import test from 'ava';
import { readdirSync, readFileSync, truncateSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry } from '../../node/raft/types.ts';
import { encodeEntries, encodeReset, encodeSegmentHeader } from '../../node/replication/wal-codec.ts';
import { encodeCommand } from '../../node/state-machine/codec.ts';
import { encodeBatch } from '../../node/state-machine/batch-codec.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const seg = (dir: string): string => join(dir, readdirSync(dir).filter((f) => f.endsWith('.wal')).sort()[0]!);

function incEntry(index: number, sequence: Buffer): Entry {
  const cmd = encodeCommand({ type: 'inc', bucket: Buffer.from('b'), sequence, count: 1 }, 1_700_000_000_000);
  return { index, term: 1, type: EntryType.Normal, data: Buffer.from(encodeBatch([cmd])) };
}

/** Names a client could send: the unsalted records of each kind (all a client can seal). */
const NAMES = {
  plain: (): Buffer => Buffer.alloc(25, 0x62),
  'reset-record': (): Buffer => encodeReset({ index: 7, term: 1 }),
  'entries-record': (): Buffer => encodeEntries([{ index: 21, term: 1, type: EntryType.Normal, data: Buffer.from('x') }]),
  'segment-record': (): Buffer => encodeSegmentHeader(0x5eed),
} as const;

for (const named of Object.keys(NAMES) as (keyof typeof NAMES)[]) for (const prealloc of [0, undefined]) {
  test(`${named} name, prealloc ${prealloc ?? 'default'}: a torn last write whose written part holds a client name that reads as a WAL record is cut, not refused`, async (t) => {
    const dir = await tempDir(t);
    const w = Wal.open({ dir, ...(prealloc === undefined ? {} : { preallocBytes: prealloc }) });
    for (let i = 1; i <= 20; i++) w.writeSync({ entries: [incEntry(i, Buffer.from(`s${i}`))] });
    // The last write (never acknowledged: the crash comes before its fdatasync returns): a batch of
    // INCs, the first of a sequence whose name is an encoded record (all but "plain"), then more.
    const evil = NAMES[named]();
    const entries: Entry[] = [incEntry(21, evil)];
    for (let i = 22; i <= 40; i++) entries.push(incEntry(i, Buffer.alloc(200, 0x61)));
    w.writeSync({ entries });
    const end = (w as unknown as { segments: { size: number }[] }).segments.at(-1)!.size;
    await w.close();
    const file = seg(dir);
    // Torn: only the first 1024 bytes of that last write reached the disk.
    const tornAt = findLastRecordStart(file, end) + 1024;
    if (prealloc === 0) truncateSync(file, tornAt);
    else {
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(end - tornAt), 0, end - tornAt, tornAt); // its later sectors never written
      closeSync(fd);
    }
    let err: unknown;
    let last = -1;
    try {
      const again = Wal.open({ dir });
      last = again.lastIndex();
      await again.close();
    } catch (e) {
      err = e;
    }
    t.is(err, undefined, `refused: ${(err as Error | undefined)?.message}`);
    t.is(last, 20);
  });
}

/** The start of the last record before `end` (walks the length prefixes from the segment start). */
function findLastRecordStart(file: string, end: number): number {
  const b = readFileSync(file);
  let at = 0;
  let prev = 0;
  while (at < end) {
    prev = at;
    at += 8 + b.readUInt32BE(at);
  }
  return prev;
}
