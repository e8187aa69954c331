// The Raft log's segment files (node/replication/wal.ts): real files, reopened as after a crash;
// torn tails, damage, rotation, compaction, resets, group commit, and a seeded model check.
import test from 'ava';
import { appendFileSync, constants, readdirSync, readFileSync, readlinkSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Wal } from '../../node/replication/wal.ts';
import { EntryType, type Entry, type HardState } from '../../node/raft/types.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { Rng } from '../sim/rng.ts';
import { TS_LOADER_ARG } from '../helpers/ts-loader.ts';

function ents(from: number, to: number, term: number, size = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: i % 7 === 0 ? EntryType.ConfChange : EntryType.Normal, data: Buffer.alloc(size, `e${i}t${term}`) });
  return out;
}

function view(w: Wal): string[] {
  const out: string[] = [];
  for (let i = w.firstIndex(); i <= w.lastIndex(); i++) {
    const e = w.entry(i);
    out.push(`${i}@${e.term}:${e.type}:${Buffer.from(e.data).toString('latin1')}`);
  }
  return out;
}

const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.wal')).sort();

test('entries and the hard state survive reopening; reads come from the file once out of the cache', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, cacheBytesMax: 16 });
  t.true(w.isEmpty);
  w.writeSync({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 2 } });
  await w.write({ entries: ents(6, 9, 2) });
  const before = view(w);
  t.is(before.length, 9);
  t.is(w.term(7), 2);
  t.is(w.type(7), EntryType.ConfChange);
  await w.close();
  const r = Wal.open({ dir });
  t.false(r.isEmpty);
  t.deepEqual(view(r), before);
  t.deepEqual(r.hardState(), { term: 1, vote: 'a', commit: 2 });
  await r.close();
});

test('entries written at an index replace that index and everything after it', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir });
  w.writeSync({ entries: ents(1, 10, 1) });
  w.writeSync({ entries: ents(4, 5, 2) });
  t.is(w.lastIndex(), 5);
  t.is(w.term(4), 2);
  await w.close();
  const r = Wal.open({ dir });
  t.deepEqual(view(r).map((s) => s.split(':')[0]), ['1@1', '2@1', '3@1', '4@2', '5@2']);
  await r.close();
});

test('a torn tail (a write cut short by a crash) is cut off at open; the log goes on from there', async (t) => {
  const dir = await tempDir(t);
  // Without preallocation the file ends where the records end: cut points are plain sizes.
  const w = Wal.open({ dir, preallocBytes: 0 });
  w.writeSync({ entries: ents(1, 3, 1), hardState: { term: 1, vote: null, commit: 1 } });
  const file = join(dir, segments(dir)[0]!);
  const good = statSync(file).size;
  w.writeSync({ entries: ents(4, 6, 1) });
  await w.close();
  for (const cut of [good + 1, good + 9, statSync(file).size - 1]) {
    const copy = readFileSync(file);
    truncateSync(file, cut);
    const r = Wal.open({ dir });
    t.is(r.lastIndex(), 3, `cut at ${cut}`);
    t.is(statSync(file).size, good, 'the torn bytes are removed');
    // Reported unless the bytes cut were all zeros (the same as the space after the records).
    const reported = copy.subarray(good, cut).some((b) => b !== 0) ? { path: file, at: good } : null;
    t.deepEqual(r.tornTail, reported, 'and reported');
    await r.close();
    writeFileSync(file, copy);
  }
  appendFileSync(file, Buffer.from([0, 0, 0, 40, 1, 2, 3]));
  const r = Wal.open({ dir });
  t.is(r.lastIndex(), 6, 'garbage after the last record is a torn tail too');
  t.is(r.tornTail?.path, file);
  r.writeSync({ entries: ents(7, 7, 2) });
  await r.close();
  const r2 = Wal.open({ dir });
  t.is(r2.lastIndex(), 7);
  t.is(r2.term(7), 2);
  await r2.close();
});

test('preallocated zeros: written ahead of the records, read as the end of the log, never left before the last segment', async (t) => {
  const dir = await tempDir(t);
  const prealloc = 4096;
  const w = Wal.open({ dir, preallocBytes: prealloc, segmentBytesMax: 3000 });
  w.writeSync({ entries: ents(1, 3, 1), hardState: { term: 1, vote: null, commit: 1 } });
  const file = join(dir, segments(dir)[0]!);
  const size1 = statSync(file).size;
  const records = size1 - prealloc;
  t.true(records > 0);
  t.true(readFileSync(file).subarray(records).every((b) => b === 0), 'the first write put zeros after itself');
  await w.write({ entries: ents(4, 5, 1) });
  t.is(statSync(file).size, size1, 'the next write went into them, the file did not grow');
  // A crash now (no close): the copy still ends in zeros.
  const crashed = readFileSync(file);
  await w.close();
  writeFileSync(file, crashed);
  const r = Wal.open({ dir, preallocBytes: prealloc, segmentBytesMax: 3000 });
  t.is(r.lastIndex(), 5);
  t.is(r.tornTail, null, 'zeros after the records are not a torn write');
  const logical = statSync(file).size;
  t.true(logical > records && logical < size1, 'reopening cut the zeros');
  // A write torn inside the zeros (its head on disk, its later sectors still zeros) is a torn tail.
  r.writeSync({ entries: ents(6, 6, 1, 1200) });
  const after = readFileSync(file);
  const recordBytes = after.length - prealloc - logical;
  t.true(recordBytes > 1200);
  await r.close();
  const torn = Buffer.alloc(after.length);
  after.copy(torn, 0, 0, (Math.floor(logical / 512) + 1) * 512); // the record's first sector only
  writeFileSync(file, torn);
  const r2 = Wal.open({ dir, preallocBytes: prealloc, segmentBytesMax: 3000 });
  t.is(r2.lastIndex(), 5, 'the torn entry is gone, the ones before it stay');
  t.deepEqual(r2.tornTail, { path: file, at: logical }, 'and reported');
  t.is(statSync(file).size, logical);
  // Rotation cuts the zeros off the segment it leaves: only the last segment may end in zeros.
  for (let i = 6; i <= 60; i += 5) r2.writeSync({ entries: ents(i, i + 4, 2, 100) });
  const segs = segments(dir);
  t.true(segs.length >= 3, `${segs.length} segments`);
  // A segment left with zeros would refuse to open (a damaged record before the last segment).
  for (const seg of segs.slice(0, -1)) t.true(statSync(join(dir, seg)).size <= 3000, `${seg} holds records only`);
  const expected = view(r2);
  await r2.close();
  const r3 = Wal.open({ dir });
  t.deepEqual(view(r3), expected);
  await r3.close();
});

test('a nearly full disk: the zeros ahead may be cut short, a write whose records fit still succeeds', async (t) => {
  const dir = await tempDir(t);
  // 64 KiB file size limit: each write's 1 MiB of zeros is cut short, its records are not.
  const out = spawnSync('bash', ['-c', `ulimit -f 64; exec "${process.execPath}" "${TS_LOADER_ARG}" test/replication/helpers/wal-file-limit.ts "${dir}"`], { encoding: 'utf8', cwd: process.cwd() });
  t.is(out.status, 0, out.stderr);
  t.deepEqual(JSON.parse(out.stdout.trim()), { last: 2, data: ['0101', '0202'] });
  t.true(statSync(join(dir, segments(dir)[0]!)).size <= 64 * 1024);
});

test('a damaged record before the last segment refuses to open (STORAGE), never silently drops entries', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, segmentBytesMax: 200 });
  for (let i = 1; i <= 20; i += 2) w.writeSync({ entries: ents(i, i + 1, 1, 40) });
  await w.close();
  const segs = segments(dir);
  t.true(segs.length >= 3, `${segs.length} segments`);
  const first = join(dir, segs[0]!);
  const bytes = readFileSync(first);
  bytes[bytes.length - 3]! ^= 0xff;
  writeFileSync(first, bytes);
  const err = t.throws(() => Wal.open({ dir }));
  t.is((err as { code?: string }).code, ErrorCode.STORAGE);
});

test('segments rotate; compaction deletes whole old segments; the hard state outlives them', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, segmentBytesMax: 300 });
  w.writeSync({ hardState: { term: 3, vote: 'b', commit: 0 } });
  for (let i = 1; i <= 40; i += 2) w.writeSync({ entries: ents(i, i + 1, 3, 50) });
  const many = segments(dir).length;
  t.true(many >= 5, `${many} segments`);
  w.compact(30);
  t.is(w.firstIndex(), 31);
  const fewer = segments(dir).length;
  t.true(fewer < many && fewer >= 1, `${many} -> ${fewer}`);
  const expected = view(w);
  await w.close();
  const r = Wal.open({ dir });
  t.deepEqual(r.hardState(), { term: 3, vote: 'b', commit: 0 });
  t.true(r.firstIndex() <= 31);
  r.compact(30);
  t.deepEqual(view(r), expected);
  await r.close();
});

test('a reset restarts the log after a snapshot point', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir });
  w.writeSync({ entries: ents(1, 10, 1) });
  w.writeSync({ reset: { index: 50, term: 4 }, entries: ents(51, 52, 4) });
  t.is(w.firstIndex(), 51);
  t.is(w.lastIndex(), 52);
  t.is(w.term(10), undefined);
  await w.close();
  const r = Wal.open({ dir });
  t.is(r.firstIndex(), 51);
  t.deepEqual(view(r).map((s) => s.split(':')[0]), ['51@4', '52@4']);
  await r.close();
});

test('queued writes share one durable write and become visible in order', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir });
  const seen: number[] = [];
  const writes = [];
  for (let i = 1; i <= 50; i++) writes.push(w.write({ entries: ents(i, i, 1) }).then(() => seen.push(w.lastIndex())));
  t.throws(() => w.writeSync({ entries: ents(51, 51, 1) }), { message: /queued writes/ });
  await Promise.all(writes);
  t.is(seen.length, 50);
  for (let i = 0; i < 50; i++) t.true(seen[i]! >= i + 1, 'a write is visible when it resolves');
  t.deepEqual([...seen].sort((a, b) => a - b), seen, 'in order');
  await w.close();
});

/** Open flags (octal, /proc/self/fdinfo) of every descriptor this process holds on a file in `dir`. */
function openFlags(dir: string): number[] {
  const out: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = '';
    try { target = readlinkSync(`/proc/self/fd/${fd}`); } catch { continue; }
    if (!target.startsWith(`${dir}/`)) continue;
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    if (flags !== undefined) out.push(parseInt(flags, 8));
  }
  return out;
}

test('every segment is open with O_DSYNC: a write is on disk when it returns, with no fdatasync after it', async (t) => {
  const dir = await tempDir(t);
  let w = Wal.open({ dir, segmentBytesMax: 4096 });
  w.writeSync({ entries: ents(1, 40, 1, 64), hardState: { term: 1, vote: 'a', commit: 1 } });
  await w.write({ entries: ents(41, 80, 1, 64) });
  t.true(segments(dir).length >= 2, 'rotated: a new segment was created');
  const created = openFlags(dir);
  t.true(created.length >= 1);
  for (const flags of created) t.true((flags & constants.O_DSYNC) !== 0, `flags ${flags.toString(8)}`);
  await w.close();
  w = Wal.open({ dir, segmentBytesMax: 4096 });
  const recovered = openFlags(dir);
  t.true(recovered.length >= 1);
  for (const flags of recovered) t.true((flags & constants.O_DSYNC) !== 0, `flags ${flags.toString(8)} after reopening`);
  await w.close();
});

test('a seeded model check: random appends, overwrites, resets, compactions and reopenings', async (t) => {
  const seed = Number(process.env.WAL_SEED ?? 1 + Math.floor(Math.random() * 1e6));
  t.log(`seed ${seed} (WAL_SEED=${seed} to replay)`);
  const rng = new Rng(seed);
  const dir = await tempDir(t);
  // Preallocation varies too: none, less than a record, a few records, the default.
  const preallocBytes = (): number => rng.pick([0, 40, 4096, 1 << 20]);
  let w = Wal.open({ dir, segmentBytesMax: rng.pick([256, 1024, 1 << 20]), cacheBytesMax: rng.pick([0, 64, 1 << 20]), preallocBytes: preallocBytes() });
  // The model: entries by index from `first`, and the newest hard state.
  let first = 1;
  let log: Entry[] = [];
  let hs: HardState | null = null;
  let compacted = 0;
  for (let step = 0; step < 400; step++) {
    const r = rng.next();
    const last = first + log.length - 1;
    if (r < 0.5) {
      const from = log.length > 0 && rng.chance(0.25) ? first + Math.floor(rng.next() * log.length) : last + 1;
      const term = 1 + Math.floor(step / 40);
      const batch = ents(from, from + Math.floor(rng.next() * 5), term, Math.floor(rng.next() * 60));
      const h = rng.chance(0.3) ? { term, vote: rng.chance(0.5) ? 'n1' : null, commit: Math.floor(rng.next() * from) } : undefined;
      const wr = { entries: batch, ...(h ? { hardState: h } : {}) };
      if (rng.chance(0.5)) w.writeSync(wr);
      else await w.write(wr);
      log = log.slice(0, from - first).concat(batch);
      if (h) hs = h;
    } else if (r < 0.55) {
      const at = last + 1 + Math.floor(rng.next() * 5);
      w.writeSync({ reset: { index: at, term: 99 } });
      first = at + 1;
      log = [];
    } else if (r < 0.7 && log.length > 2) {
      const upTo = first + Math.floor(rng.next() * (log.length - 1));
      w.compact(upTo);
      log = log.slice(upTo - first + 1);
      first = upTo + 1;
      compacted = upTo;
    } else if (r < 0.8) {
      await w.close();
      w = Wal.open({ dir, segmentBytesMax: rng.pick([256, 1024, 1 << 20]), preallocBytes: preallocBytes() });
      // Compaction is not stored in the log files (LMDB keeps the point); reapply it as the storage does.
      if (compacted >= w.firstIndex()) w.compact(Math.min(compacted, first - 1));
    }
    const got = view(w);
    const want = log.map((e) => `${e.index}@${e.term}:${e.type}:${Buffer.from(e.data).toString('latin1')}`);
    if (JSON.stringify(got) !== JSON.stringify(want) || w.firstIndex() !== first) {
      t.fail(`seed ${seed} step ${step}: view ${w.firstIndex()}.. ${got.slice(0, 3).join(' ')} vs model ${first}.. ${want.slice(0, 3).join(' ')}`);
      return;
    }
    t.deepEqual(w.hardState(), hs, `seed ${seed} step ${step}: hard state`);
  }
  await w.close();
});

test('the writev parts of an entries record are byte for byte the record; thousands of parts in one write', async (t) => {
  const { encodeEntries, encodeEntriesParts } = await import('../../node/replication/wal-codec.ts');
  const batch = ents(5, 3004, 2, 3);
  const { parts, bytes } = encodeEntriesParts(batch);
  t.true(parts.length > 1024, `${parts.length} parts (more than IOV_MAX)`);
  t.deepEqual(Buffer.concat(parts), encodeEntries(batch));
  t.is(bytes, encodeEntries(batch).length);
  const dir = await tempDir(t);
  const w = Wal.open({ dir, cacheBytesMax: 0 });
  w.writeSync({ entries: ents(1, 4, 2) });
  w.writeSync({ entries: batch });
  await w.write({ entries: ents(3005, 6004, 2, 3) });
  await w.close();
  const r = Wal.open({ dir, cacheBytesMax: 0 });
  t.is(r.lastIndex(), 6004);
  t.is(Buffer.from(r.entry(3004).data).toString('latin1'), Buffer.alloc(3, 'e3004t2').toString('latin1'));
  t.is(Buffer.from(r.entry(6004).data).toString('latin1'), Buffer.alloc(3, 'e6004t2').toString('latin1'));
  await r.close();
});

test('segments whose entries were all replaced (an overwrite, a reset) are deleted by the next compaction', async (t) => {
  const dir = await tempDir(t);
  const w = Wal.open({ dir, segmentBytesMax: 300 });
  for (let i = 1; i <= 40; i += 2) w.writeSync({ entries: ents(i, i + 1, 1, 50) });
  const many = segments(dir).length;
  w.writeSync({ entries: ents(5, 6, 2, 50) }); // a conflict: 5..40 replaced
  w.compact(4);
  t.true(segments(dir).length <= 2, `${many} -> ${segments(dir).length} segments`);
  w.writeSync({ reset: { index: 100, term: 3 } });
  w.writeSync({ entries: ents(101, 102, 3, 50) });
  w.compact(100);
  t.is(segments(dir).length, 1, 'after a reset only the active segment is left');
  const expected = view(w);
  await w.close();
  const r = Wal.open({ dir });
  r.compact(100);
  t.deepEqual(view(r), expected);
  t.is(r.firstIndex(), 101);
  await r.close();
});
