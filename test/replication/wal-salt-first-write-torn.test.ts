// A review of the segment salts (be03803): the first write after a fresh segment's SEGMENT record (and hard state, if any)
// torn at every sector, old and new sectors mixed: always cut, never refused; the log takes writes after.
import test from 'ava';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry } from '../../node/raft/types.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const segments = (dir: string): string[] => readdirSync(dir).filter((f) => /^seg-\d+\.wal$/.test(f)).sort();
function ents(from: number, to: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term: 1, type: EntryType.Normal, data: Buffer.alloc(size, `e${i}`) });
  return out;
}

test('first write after the header torn, sectors mixed (all 2^k masks of the first 6 sectors)', async (t) => {
  const root = await tempDir(t);
  let trials = 0;
  for (const withHs of [false, true]) {
    for (const prealloc of [0, 4096]) {
      const dir = join(root, `w${withHs}${prealloc}`);
      const w = Wal.open({ dir, preallocBytes: prealloc });
      if (withHs) {
        // a roll puts SEGMENT + hard state first: emulate with a hard-state-only write, then reopen reads it as "before"
        w.writeSync({ hardState: { term: 1, vote: 'a', commit: 0 } });
      } else {
        w.writeSync({ entries: [] });
      }
      const before = readFileSync(join(dir, segments(dir)[0]!));
      w.writeSync({ entries: ents(1, 3, 900), hardState: { term: 1, vote: 'a', commit: 3 } });
      const after = readFileSync(join(dir, segments(dir)[0]!));
      w.closeSync();
      const sectors = Math.ceil(after.length / 512);
      for (let mask = 0; mask < 1 << Math.min(sectors, 6); mask++) {
        for (const size of [before.length, after.length]) {
          const mixed = Buffer.alloc(size);
          for (let s = 0, at = 0; at < size; s++, at += 512) {
            const src = (mask >> Math.min(s, 5)) & 1 ? after : before;
            if (at < src.length) src.copy(mixed, at, at, Math.min(at + 512, size, src.length));
          }
          const crashed = join(root, `c${trials++}`);
          mkdirSync(crashed);
          writeFileSync(join(crashed, segments(dir)[0]!), mixed);
          let r: Wal;
          try {
            r = Wal.open({ dir: crashed, preallocBytes: prealloc });
          } catch (err) {
            t.fail(`hs ${withHs} prealloc ${prealloc} mask ${mask} size ${size}: refused: ${(err as Error).message}`);
            continue;
          }
          t.true(r.lastIndex() === 0 || r.lastIndex() === 3, `last ${r.lastIndex()}`);
          r.writeSync({ entries: ents(r.lastIndex() + 1, r.lastIndex() + 1, 10) });
          r.closeSync();
          const again = Wal.open({ dir: crashed });
          t.true(again.lastIndex() >= 1);
          again.closeSync();
        }
      }
    }
  }
  t.log(`${trials} trials`);
});
