// What a crash or a full disk can leave in the Raft log's segment files (node/replication/wal.ts,
// wal-torn.ts), and what opening them must make of it: a torn last write is cut, a damaged
// record that was written whole refuses to start, and a new segment never exists without the
// hard state (a review found one that could: term and vote were lost at the next compaction).
import test from 'ava';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { LmdbRaftStorage } from '../../node/replication/lmdb-raft-storage.ts';
import { EntryType, type Entry, type HardState } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Rng } from '../sim/rng.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

const SECTOR = 512;

function ents(from: number, to: number, term: number, size: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: EntryType.Normal, data: Buffer.alloc(size, `e${i}t${term}`) });
  return out;
}

const segments = (dir: string): string[] => readdirSync(dir).filter((f) => /^seg-\d+\.wal$/.test(f)).sort();
const HS: HardState = { term: 7, vote: 'n2', commit: 3 };

test('a flipped bit in an early record of the last segment refuses to open (STORAGE): the records after it were acknowledged', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, preallocBytes: 0 });
  for (let i = 1; i <= 100; i++) w.writeSync({ entries: ents(i, i, 1, 100) });
  await w.close();
  const file = join(dir, segments(dir)[0]!);
  const bytes = readFileSync(file);
  bytes[200]! ^= 0x01; // inside entry 2's data
  writeFileSync(file, bytes);
  const err = t.throws(() => Wal.open({ dir }));
  t.is((err as { code?: string }).code, ErrorCode.STORAGE);
  t.is(statSync(file).size, bytes.length, 'nothing was cut');
});

test('a roll that fails on a full disk leaves no segment without the hard state; compaction keeps it', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, segmentBytesMax: 300, preallocBytes: 0 });
  w.writeSync({ entries: ents(1, 4, 7, 40), hardState: HS });
  await w.close();
  // No file may grow (`ulimit -f 0`, a full disk): the write that starts segment 2 fails.
  const script = `import { Wal } from './node/replication/wal.ts';
    const w = Wal.open({ dir: process.argv[1], segmentBytesMax: 300, preallocBytes: 0 });
    try { w.writeSync({ entries: [{ index: 5, term: 7, type: 1, data: Buffer.alloc(200, 5) }] }); console.log('WROTE'); }
    catch (err) { console.log('FAILED', err.code ?? err.message); }`;
  const out = spawnSync('bash', ['-c', `ulimit -f 0; exec "${process.execPath}" "${TS_LOADER_ARG}" --input-type=module -e "$0" "$1"`, script, dir], { encoding: 'utf8' });
  t.regex(out.stdout, /FAILED/, out.stderr.slice(0, 300));
  t.deepEqual(segments(dir), ['seg-0000000000000001.wal'], 'no segment 2 without its head');
  // Space is back; the node restarts, writes into a new segment, and compacts segment 1 away.
  const r = Wal.open({ dir, segmentBytesMax: 300, preallocBytes: 0 });
  t.deepEqual(r.hardState(), HS);
  r.writeSync({ entries: ents(5, 6, 7, 200) });
  r.compact(4);
  t.deepEqual(segments(dir), ['seg-0000000000000002.wal']);
  await r.close();
  const r2 = Wal.open({ dir });
  t.deepEqual(r2.hardState(), HS);
  await r2.close();
});

test('an empty last segment left by an older build gets the hard state at open: term and vote outlive compaction', async (t) => {
  const dir = await tempDir(t);
  const conf = { voters: ['n1', 'n2', 'n3'], learners: [] };
  const s = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'c1' });
  await s.persist({ entries: ents(1, 10, 7, 40), hardState: { term: 7, vote: 'n2', commit: 10 }, inline: true });
  await s.close();
  // A crash right after an older build created segment 2, before its head.
  const walDir = join(dir, 'raft', 'wal');
  const seg1 = join(walDir, segments(walDir)[0]!);
  const records = readFileSync(seg1);
  let end = records.length;
  while (end > 0 && records[end - 1] === 0) end--; // its preallocated zeros cut, as a roll does (the last record, the hard state, ends in "n2")
  writeFileSync(seg1, records.subarray(0, end));
  writeFileSync(join(walDir, 'seg-0000000000000002.wal'), Buffer.alloc(0));
  const s2 = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'c1' });
  t.deepEqual(s2.initialState().hardState, { term: 7, vote: 'n2', commit: 10 });
  // Idle: nothing appended; the node snapshots what it applied and compacts.
  await s2.saveSnapshot({ meta: { index: 10, term: 7, conf }, data: Buffer.from('image') });
  await s2.compact(10);
  await s2.close();
  // Segment 2, written before salts, took no writes: segment 3 (salted) holds the hard state.
  t.deepEqual(segments(walDir), ['seg-0000000000000003.wal']);
  const s3 = LmdbRaftStorage.open({ dir, shard: 's1', cluster: 'c1' });
  const hs = s3.initialState().hardState;
  await s3.close();
  t.deepEqual({ term: hs.term, vote: hs.vote }, { term: 7, vote: 'n2' });
});

/**
 * The last write torn at every sector boundary, old and new sectors mixed at random (a disk
 * writes sectors in any order): opening must never refuse, and must give the log before that
 * write or with a prefix of its records, and the log must take writes afterwards.
 */
test('a torn last write, its sectors mixed at random, is always cut, never refused (seeded)', async (t) => {
  const seed = Number(process.env.WAL_TORN_SEED ?? 1 + Math.floor(Math.random() * 1e6));
  t.log(`seed ${seed} (WAL_TORN_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const root = await tempDir(t);
  let trials = 0;
  for (let it = 0; it < 40; it++) {
    const dir = join(root, `w${it}`);
    const prealloc = rng.pick([0, 40, 4096]);
    const w = Wal.open({ dir, preallocBytes: prealloc, segmentBytesMax: 1 << 20 });
    let last = 0;
    for (let s = rng.range(1, 8); s > 0; s--) {
      const n = rng.range(1, 4);
      w.writeSync({ entries: ents(last + 1, last + n, 1, rng.range(0, 700)), ...(rng.chance(0.4) ? { hardState: { term: 1, vote: 'a', commit: last } } : {}) });
      last += n;
    }
    const before = readFileSync(join(dir, segments(dir)[0]!));
    const n = rng.range(1, 4);
    w.writeSync({ entries: ents(last + 1, last + n, 2, rng.range(0, 1500)), hardState: { term: 2, vote: 'b', commit: last } });
    const after = readFileSync(join(dir, segments(dir)[0]!));
    w.closeSync();
    for (let trial = 0; trial < 6; trial++, trials++) {
      const size = rng.chance(0.5) ? before.length : after.length;
      const mixed = Buffer.alloc(size);
      for (let at = 0; at < size; at += SECTOR) {
        const src = rng.chance(0.5) ? before : after;
        if (at < src.length) src.copy(mixed, at, at, Math.min(at + SECTOR, size, src.length));
      }
      const crashed = join(root, `c${it}-${trial}`);
      const file = join(crashed, segments(dir)[0]!);
      const r0 = Wal.open({ dir: crashed });
      r0.closeSync();
      writeFileSync(file, mixed);
      let r: Wal;
      try {
        r = Wal.open({ dir: crashed, preallocBytes: prealloc });
      } catch (err) {
        t.fail(`seed ${seed}: write ${it} trial ${trial} refused: ${(err as Error).message}`);
        return;
      }
      t.true(r.lastIndex() >= last && r.lastIndex() <= last + n, `seed ${seed}: last index ${r.lastIndex()} of ${last}..${last + n}`);
      for (let i = 1; i <= r.lastIndex(); i++) t.is(r.entry(i).term, i <= last ? 1 : 2);
      r.writeSync({ entries: ents(r.lastIndex() + 1, r.lastIndex() + 1, 3, 10) });
      const next = r.lastIndex();
      r.closeSync();
      const r2 = Wal.open({ dir: crashed });
      t.is(r2.lastIndex(), next);
      r2.closeSync();
    }
  }
  t.true(trials >= 200);
});
