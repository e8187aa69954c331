// A review of the segment salts (wal-codec.ts). A flipped bit in the LENGTH of a salted segment's first
// record (the SEGMENT record) leaves recovery without the salt: the scan stops at byte 0 with
// salt 0, wholeRecordAfter looks for records sealed with salt 0, finds none (they are sealed with
// the segment's salt), and the whole last segment - every acknowledged entry and the hard state -
// is cut as a "torn write". Before salts the same flip in the first record was refused (STORAGE).
import test from 'ava';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry, type HardState } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function ents(from: number, to: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 1, type: EntryType.Normal, data: Buffer.alloc(size, `e${i}`) });
  return out;
}
const segs = (dir: string): string[] => readdirSync(dir).filter((f) => /^seg-\d+\.wal$/.test(f)).sort();
const HS: HardState = { term: 5, vote: 'n2', commit: 90 };

for (const prealloc of [0, undefined]) {
  for (const [byte, mask] of [[1, 0x10], [2, 0x01], [2, 0x40]] as const) {
    test(`prealloc ${prealloc ?? 'default'}: bit ${mask} of length byte ${byte} of the SEGMENT record flipped -> STORAGE, not a cut of the whole segment`, async (t) => {
      const dir = await tempDir(t);
      const w = Wal.open({ dir, ...(prealloc === undefined ? {} : { preallocBytes: prealloc }) });
      for (let i = 1; i <= 100; i++) w.writeSync({ entries: ents(i, i, 100), hardState: { ...HS, commit: i } }); // each acknowledged
      await w.close();
      const file = join(dir, segs(dir).at(-1)!);
      const bytes = readFileSync(file);
      bytes[byte]! ^= mask; // the first record's length field (u32 BE at byte 0)
      writeFileSync(file, bytes);
      let opened: Wal | undefined;
      let err: unknown;
      try { opened = Wal.open({ dir }); } catch (e) { err = e; }
      const cut = opened ? `opened with lastIndex ${opened.lastIndex()} of 100, hard state ${JSON.stringify(opened.hardState())}; ${segs(dir).join(',')}; file ${bytes.length} -> ${statSync(file).size} bytes` : '';
      await opened?.close();
      t.is((err as { code?: string } | undefined)?.code, ErrorCode.STORAGE, cut);
    });
  }
}

// The same flip seen by the node's storage: it opens with term 0, no vote and an empty log,
// after it had persisted (and so acknowledged) 50 entries and voted in term 9.
test('node storage: a flipped length bit in the SEGMENT record -> STORAGE, not term 0 / no vote / empty log', async (t) => {
  const { LmdbRaftStorage } = await import('../../node/replication/lmdb-raft-storage.ts');
  const dir = await tempDir(t);
  const s = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'c1' });
  await s.persist({ entries: ents(1, 50, 50), hardState: { term: 9, vote: 'n2', commit: 40 } });
  await s.close();
  const walDir = join(dir, 'raft', 'wal');
  const file = join(walDir, segs(walDir).at(-1)!);
  const bytes = readFileSync(file);
  bytes[1]! ^= 0x10;
  writeFileSync(file, bytes);
  let err: unknown;
  let state = '';
  try {
    const r = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'c1' });
    state = `opened: hard state ${JSON.stringify(r.initialState().hardState)}, lastIndex ${r.lastIndex()} (was term 9 vote n2, 50 entries)`;
    await r.close();
  } catch (e) { err = e; }
  t.is((err as { code?: string } | undefined)?.code, ErrorCode.STORAGE, state);
});
