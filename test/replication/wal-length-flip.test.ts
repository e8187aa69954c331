// A review: a flipped bit in the LENGTH field of a record written whole, early in the last
// segment, is taken for a torn write and every later (acknowledged) record is silently cut.
// README "Durability" promises a STORAGE error instead of dropping the records after it.
import test from 'ava';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function ents(from: number, to: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 1, type: EntryType.Normal, data: Buffer.alloc(size, `e${i}`) });
  return out;
}
const seg = (dir: string): string => join(dir, readdirSync(dir).filter((f) => f.endsWith('.wal')).sort()[0]!);
const RECORD = 9 + 12 + 13 + 100; // one entry of 100 bytes per record

for (const prealloc of [0, undefined]) {
  for (const [byte, mask] of [[1, 0x01], [2, 0x01]] as const) {
    test(`prealloc ${prealloc ?? 'default'}: bit ${mask} of length byte ${byte} of record 2 flipped -> STORAGE, not a cut`, async (t) => {
      const dir = await tempDir(t);
      const w = Wal.open({ dir, ...(prealloc === undefined ? {} : { preallocBytes: prealloc }) });
      for (let i = 1; i <= 100; i++) w.writeSync({ entries: ents(i, i, 100) }); // each acknowledged
      await w.close();
      const file = seg(dir);
      const bytes = readFileSync(file);
      bytes[RECORD + byte]! ^= mask; // record 2's length field (big-endian u32 at its offset 0)
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
