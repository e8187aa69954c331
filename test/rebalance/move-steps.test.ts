/**
 * The slot-move state machine as pure logic over the state machine (MemoryKv, and real LMDB for
 * the data copy): each step, the epoch guards, the abort path, and — under seeded random
 * interleavings of a finishing and an aborting coordinator — never two shards serving a slot.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { slotOf } from '../../shared/placement/slot.ts';
import { readCatalog, slotTable } from '../../node/ownership/catalog.ts';
import { markSharded, ownershipRefusal } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { exportSlotData } from '../../node/ownership/slot-data.ts';
import { apply, cluster, inc } from '../helpers/logged-apply.ts';
import { LmdbStore, MemoryKv, read, type GetCommand, stateSummary, type Command, type CommandResult, type ResultItem } from '../../node/state-machine/index.ts';
import { copyKv } from '../helpers/kv-copy.ts';

const get = (bucket: string): Command => ({ type: 'get', bucket: Buffer.from(bucket), sequence: Buffer.from('s') });
const codeOf = (r: CommandResult): string => (r.type === 'error' ? r.code : r.type);
const intOf = (r: CommandResult): bigint => {
  if (r.type !== 'int') throw new Error(`expected int, got ${JSON.stringify(r)}`);
  return r.value;
};
const bulkOf = (r: CommandResult): Buffer => {
  if (r.type !== 'bulk') throw new Error(`expected bulk, got ${JSON.stringify(r)}`);
  return r.value;
};

/** Catalog shard "1" plus shards "2" (both in the initial table) and "3" (registered later). */
let base: { s1: MemoryKv; s2: MemoryKv; s3: MemoryKv } | null = null;
function cluster3(): { s1: MemoryKv; s2: MemoryKv; s3: MemoryKv } {
  // Planning the table (16384 ring lookups) once; every test gets fresh copies.
  base ??= buildCluster3();
  return { s1: copyKv(base.s1), s2: copyKv(base.s2), s3: copyKv(base.s3) };
}


function buildCluster3(): { s1: MemoryKv; s2: MemoryKv; s3: MemoryKv } {
  const s1 = new MemoryKv();
  const s2 = new MemoryKv();
  const s3 = new MemoryKv();
  markSharded(s1, '1');
  markSharded(s2, '2');
  markSharded(s3, '3');
  apply(s1, cluster('REGISTER', '1', '127.0.0.1:1'));
  apply(s1, cluster('REGISTER', '2', '127.0.0.1:2'));
  t0(intOf(apply(s1, cluster('INITSLOTS'))) === 1n);
  apply(s1, cluster('REGISTER', '3', '127.0.0.1:3'));
  const view = readCatalog(s1);
  for (const [id, kv] of [['1', s1], ['2', s2], ['3', s3]] as const) {
    const slots = view.shards.find((s) => s.id === id)!.slots;
    apply(kv, cluster('SETSLOTS', id, String(view.epoch), slots.toBase64()));
  }
  return { s1, s2, s3 };
}

function t0(ok: boolean): void {
  if (!ok) throw new Error('setup failed');
}

/** Buckets whose slot shard "2" owns in the initial table. */
function bucketsOf(s1: MemoryKv, owner: string, n: number): string[] {
  const table = slotTable(s1);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (table[slotOf(`b${i}`)] === owner) out.push(`b${i}`);
  return out;
}

function begin(s1: MemoryKv, from: string, to: string, slots: SlotSet): number {
  const r = JSON.parse(bulkOf(apply(s1, cluster('MOVEBEGIN', from, to, slots.toBase64()))).toString()) as { epoch: number };
  return r.epoch;
}

test('a move, step by step: freeze answers TRYAGAIN, import continues the numbers and tokens, release answers MOVED', (t) => {
  const { s1, s2, s3 } = cluster3();
  const [a, b] = bucketsOf(s1, '2', 2) as [string, string];
  for (let i = 0; i < 5; i++) apply(s2, inc(a));
  t.is(intOf(apply(s2, inc(a, '1000-tok'))), 6n);
  apply(s2, inc(b));
  const slots = SlotSet.of([slotOf(a), slotOf(b)]);
  const m = String(begin(s1, '2', '3', slots));
  const before = stateSummary(s2);

  // Before FREEZE, the target refuses to serve; the source still serves.
  t.is(codeOf(apply(s3, inc(a))), 'MOVED');
  t.is(codeOf(apply(s2, cluster('EXPORT', m, slots.toBase64()))), 'MOVE_REFUSED', 'no export before the freeze');
  t.is(codeOf(apply(s2, cluster('FREEZE', m, slots.toBase64()))), 'ok');
  t.is(codeOf(apply(s2, cluster('FREEZE', m, slots.toBase64()))), 'ok', 'FREEZE is idempotent');
  t.is(codeOf(apply(s2, inc(a))), 'TRY_AGAIN');
  t.is(codeOf(apply(s2, get(a))), 'TRY_AGAIN', 'reads wait too: the target may serve newer values soon');
  const data = bulkOf(apply(s2, cluster('EXPORT', m, slots.toBase64())));
  t.is(intOf(apply(s3, cluster('IMPORT', m, slots.toBase64(), data.toString('base64')))), 2n);
  // The target now serves, from exactly the source's values, with its tokens.
  t.is(intOf(apply(s3, inc(a, '1000-tok'))), 6n, 'a retried token gets its original number');
  t.is(intOf(apply(s3, inc(a))), 7n);
  t.is(intOf(apply(s3, get(b))), 1n);
  // A repeated IMPORT (resumed coordinator) changes nothing: no rewind.
  t.is(intOf(apply(s3, cluster('IMPORT', m, slots.toBase64(), data.toString('base64')))), 0n);
  t.is(intOf(apply(s3, get(a))), 7n);
  t.is(codeOf(apply(s2, inc(a))), 'TRY_AGAIN', 'the source stays frozen until released');

  t.is(codeOf(apply(s1, cluster('MOVECOMMIT', m))), 'ok');
  t.is(slotTable(s1)[slotOf(a)], '3');
  t.is(codeOf(apply(s1, cluster('MOVEABORT', m))), 'MOVE_REFUSED', 'a committed move cannot abort');
  t.is(intOf(apply(s2, cluster('RELEASE', m, slots.toBase64()))), 2n);
  t.is(intOf(apply(s2, cluster('RELEASE', m, slots.toBase64()))), 0n, 'RELEASE is idempotent');
  t.is(codeOf(apply(s2, inc(a))), 'MOVED');
  t.is(stateSummary(s2).sequences, before.sequences - 2, 'the source dropped the data');
  t.is(stateSummary(s2).tokens, before.tokens - 1);
  t.is(codeOf(apply(s1, cluster('MOVEEND', m))), 'ok');
  t.is(JSON.parse(bulkOf(apply(s1, cluster('MOVE'))).toString()).move, null);
  // A late SETSLOTS push (any epoch) cannot undo the move.
  const full = readCatalog(s1).shards.find((s) => s.id === '2')!.slots;
  full.add(slotOf(a));
  apply(s2, cluster('SETSLOTS', '2', '99', full.toBase64()));
  t.is(codeOf(apply(s2, inc(a))), 'MOVED');
});

test('abort: REJECT first, then no IMPORT of that epoch ever applies, and UNFREEZE serves again', (t) => {
  const { s1, s2, s3 } = cluster3();
  const [a] = bucketsOf(s1, '2', 1) as [string];
  apply(s2, inc(a));
  const slots = SlotSet.of([slotOf(a)]);
  const m = String(begin(s1, '2', '3', slots));
  apply(s2, cluster('FREEZE', m, slots.toBase64()));
  const data = bulkOf(apply(s2, cluster('EXPORT', m, slots.toBase64())));
  t.is(codeOf(apply(s3, cluster('REJECT', m, slots.toBase64()))), 'ok');
  t.is(codeOf(apply(s3, cluster('IMPORT', m, slots.toBase64(), data.toString('base64')))), 'MOVE_REFUSED');
  t.is(codeOf(apply(s3, inc(a))), 'MOVED');
  t.is(codeOf(apply(s1, cluster('MOVECOMMIT', m))), 'ok', 'the catalog itself cannot see REJECT: the coordinator aborts instead');
  // (A real coordinator sends MOVEABORT here; this checks the shard-side guard alone.)
  t.is(intOf(apply(s2, cluster('UNFREEZE', m, slots.toBase64()))), 1n);
  t.is(intOf(apply(s2, inc(a))), 2n);
});

test('REJECT after an IMPORT of the epoch is refused: the move must finish', (t) => {
  const { s1, s2, s3 } = cluster3();
  const [a] = bucketsOf(s1, '2', 1) as [string];
  const slots = SlotSet.of([slotOf(a)]);
  const m = String(begin(s1, '2', '3', slots));
  apply(s2, cluster('FREEZE', m, slots.toBase64()));
  const data = bulkOf(apply(s2, cluster('EXPORT', m, slots.toBase64())));
  apply(s3, cluster('IMPORT', m, slots.toBase64(), data.toString('base64')));
  t.is(codeOf(apply(s3, cluster('REJECT', m, slots.toBase64()))), 'MOVE_REFUSED');
  t.is(codeOf(apply(s1, cluster('MOVEABORT', m))), 'ok');
  t.is(codeOf(apply(s1, cluster('MOVECOMMIT', m))), 'MOVE_REFUSED', 'aborting and committed exclude each other');
});

test('epoch guards: stale FREEZE and IMPORT are refused; slots not owned cannot freeze; MOVEBEGIN checks the table', (t) => {
  const { s1, s2, s3 } = cluster3();
  const [a] = bucketsOf(s1, '2', 1) as [string];
  const [c] = bucketsOf(s1, '1', 1) as [string];
  apply(s2, inc(a));
  const slots = SlotSet.of([slotOf(a)]);
  t.is(codeOf(apply(s1, cluster('MOVEBEGIN', '1', '3', slots.toBase64()))), 'MOVE_REFUSED', 'shard 1 does not own it');
  t.is(codeOf(apply(s1, cluster('MOVEBEGIN', '2', '2', slots.toBase64()))), 'MOVE_REFUSED');
  const m = begin(s1, '2', '3', slots);
  t.is(codeOf(apply(s1, cluster('MOVEBEGIN', '1', '3', SlotSet.of([slotOf(c)]).toBase64()))), 'MOVE_REFUSED', 'one move at a time');
  t.is(begin(s1, '2', '3', slots), m, 'the same MOVEBEGIN again returns the move in progress');
  t.is(codeOf(apply(s3, cluster('FREEZE', String(m), slots.toBase64()))), 'MOVE_REFUSED', 'the target does not own it');
  apply(s2, cluster('FREEZE', String(m), slots.toBase64()));
  t.is(codeOf(apply(s2, cluster('FREEZE', String(m + 5), slots.toBase64()))), 'MOVE_REFUSED', 'frozen by another epoch');
  const data = bulkOf(apply(s2, cluster('EXPORT', String(m), slots.toBase64()))).toString('base64');
  // The target saw a newer epoch for this slot (a later REJECT): the older IMPORT is refused.
  apply(s3, cluster('REJECT', String(m + 1), slots.toBase64()));
  t.is(codeOf(apply(s3, cluster('IMPORT', String(m), slots.toBase64(), data))), 'MOVE_REFUSED');
  // An IMPORT whose data names a slot outside the import is refused as malformed.
  const other = SlotSet.of([slotOf(c)]);
  const foreign = exportSlotData(s2, slots)!.toString('base64');
  const s4 = new MemoryKv();
  markSharded(s4, '4');
  apply(s1, cluster('REGISTER', '4', '127.0.0.1:4'));
  t.is(codeOf(apply(s4, cluster('IMPORT', String(m + 2), other.toBase64(), foreign))), 'TRY_AGAIN', 'no SETSLOTS applied yet');
  apply(s4, cluster('SETSLOTS', '4', String(readCatalog(s1).epoch), new SlotSet().toBase64()));
  t.is(codeOf(apply(s4, cluster('IMPORT', String(m + 2), other.toBase64(), foreign))), 'SYNTAX');
});

test('DRAIN and FORGET: a drained shard leaves the list only once it owns nothing, and cannot register again', (t) => {
  const { s1, s2, s3 } = cluster3();
  t.is(codeOf(apply(s1, cluster('DRAIN', '1'))), 'MOVE_REFUSED', 'the catalog shard stays');
  t.is(codeOf(apply(s1, cluster('DRAIN', '2'))), 'ok');
  t.is(codeOf(apply(s1, cluster('FORGET', '2'))), 'MOVE_REFUSED', 'shard 2 still owns slots');
  // Move everything of shard 2 to shard 3 in one go (no data: the data path is tested above).
  const all = readCatalog(s1).shards.find((s) => s.id === '2')!.slots;
  const m = String(begin(s1, '2', '3', all));
  apply(s2, cluster('FREEZE', m, all.toBase64()));
  const data = bulkOf(apply(s2, cluster('EXPORT', m, all.toBase64()))).toString('base64');
  t.is(intOf(apply(s3, cluster('IMPORT', m, all.toBase64(), data))), BigInt(all.size));
  apply(s1, cluster('MOVECOMMIT', m));
  apply(s2, cluster('RELEASE', m, all.toBase64()));
  t.is(codeOf(apply(s1, cluster('FORGET', '2'))), 'MOVE_REFUSED', 'still part of the move record');
  apply(s1, cluster('MOVEEND', m));
  t.is(codeOf(apply(s1, cluster('FORGET', '2'))), 'ok');
  t.deepEqual(readCatalog(s1).shards.map((s) => s.id), ['1', '3']);
  t.is(codeOf(apply(s1, cluster('REGISTER', '2', '127.0.0.1:2'))), 'MOVE_REFUSED');
});

/** xorshift32, seeded. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

test('never two owners: a finishing and an aborting coordinator interleaved at random (seeded)', (t) => {
  const seed = Number(process.env.SEQDB_SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (SEQDB_SEED=${seed} to replay)`);
  const rand = rng(seed);
  let finished = 0;
  let aborted = 0;
  for (let round = 0; round < 200; round++) {
    const { s1, s2, s3 } = cluster3();
    const [a] = bucketsOf(s1, '2', 1) as [string];
    apply(s2, inc(a, `1000-r${round}`));
    const slots = SlotSet.of([slotOf(a)]).toBase64();
    const m = String(begin(s1, '2', '3', SlotSet.fromBase64(slots)!));
    let data = '';
    // Each coordinator runs its steps in protocol order; a refused step ends that coordinator.
    const fwd: (() => CommandResult)[] = [
      () => apply(s2, cluster('FREEZE', m, slots)),
      () => {
        const r = apply(s2, cluster('EXPORT', m, slots));
        if (r.type === 'bulk') data = r.value.toString('base64');
        return r;
      },
      () => apply(s3, cluster('IMPORT', m, slots, data)),
      () => apply(s1, cluster('MOVECOMMIT', m)),
      () => apply(s2, cluster('RELEASE', m, slots)),
    ];
    const back: (() => CommandResult)[] = [
      () => apply(s3, cluster('REJECT', m, slots)),
      () => apply(s1, cluster('MOVEABORT', m)),
      () => apply(s2, cluster('UNFREEZE', m, slots)),
    ];
    const queues = [fwd, back];
    const done = [false, false];
    const servers = (): number => [s2, s3].filter((kv) => ownershipRefusal(kv, Buffer.from(a)) === null).length;
    while (!done[0] || !done[1]) {
      const which = done[0] ? 1 : done[1] ? 0 : rand(2);
      const next = queues[which]!.shift();
      if (next === undefined) {
        done[which] = true;
        continue;
      }
      const r = next();
      if (r.type === 'error') done[which] = true;
      t.true(servers() <= 1, `round ${round}: two shards serve ${a}`);
      if (servers() > 1) return;
    }
    const owner = [s2, s3].find((kv) => ownershipRefusal(kv, Buffer.from(a)) === null);
    t.not(owner, undefined, `round ${round}: the slot ended with no owner (stuck frozen)`);
    if (owner === s3) finished++;
    if (owner === s2) aborted++;
    // Whoever serves continues from exactly the one number handed out.
    if (owner !== undefined) t.is(intOf(apply(owner, inc(a))), 2n, `round ${round}`);
  }
  t.log(`${finished} rounds finished on the target, ${aborted} rolled back to the source`);
  t.true(finished > 0 && aborted > 0, 'both outcomes were exercised');
});

test('never two owners with chunked imports: paged parts (and paged releases) vs an aborting coordinator (seeded)', (t) => {
  const seed = Number(process.env.SEQDB_SEED ?? Date.now() % 1_000_000);
  t.log(`seed ${seed} (SEQDB_SEED=${seed} to replay)`);
  const rand = rng(seed);
  const prepared = cluster3();
  const [a] = bucketsOf(prepared.s1, '2', 1) as [string];
  // ~1,200 token records: about 2 pages of 40 KiB.
  for (let k = 0; k < 1200; k++) apply(prepared.s2, inc(a, `1000-${a}-${k}`));
  let finished = 0;
  let aborted = 0;
  for (let round = 0; round < 60; round++) {
    const [s1, s2, s3] = [copyKv(prepared.s1), copyKv(prepared.s2), copyKv(prepared.s3)];
    const slots = SlotSet.of([slotOf(a)]).toBase64();
    const m = String(begin(s1, '2', '3', SlotSet.fromBase64(slots)!));
    let cursor = '-';
    let parts = 0;
    let count = 0n;
    let last = false;
    let page: readonly ResultItem[] = [];
    const exportPage = (): CommandResult => {
      const r = apply(s2, cluster('EXPORTPAGE', m, slots, cursor));
      if (r.type === 'array') page = r.value;
      return r;
    };
    const importPart = (): CommandResult => {
      const r = apply(s3, cluster('IMPORTPART', m, slots, String(parts), cursor, (page[0] as Buffer).toString('base64')));
      if (r.type !== 'int') return r;
      parts++;
      count += page[1] as bigint;
      const key = page[2] as Buffer;
      cursor = key.length === 0 ? '-' : key.toString('base64');
      last = page[3] === 1n;
      return r;
    };
    // Each page is two steps; after a part that was not the last, the next page's steps come next.
    const partStep = (): CommandResult => {
      const r = importPart();
      if (r.type === 'int' && !last) fwd.unshift(exportPage, partStep);
      return r;
    };
    // Half the rounds release in pages of 300 entries (RELEASEPAGE), each page a step.
    const paged = rand(2) === 0;
    let releaseCursor = '-';
    const releasePage = (): CommandResult => {
      const r = apply(s2, cluster('RELEASEPAGE', m, slots, releaseCursor, '300'));
      if (r.type !== 'array') return r;
      const key = r.value[2] as Buffer;
      releaseCursor = key.length === 0 ? '-' : key.toString('base64');
      if (r.value[3] !== 1n) fwd.unshift(releasePage);
      return r;
    };
    const fwd: (() => CommandResult)[] = [
      () => apply(s2, cluster('FREEZE', m, slots)),
      exportPage,
      partStep,
      () => apply(s3, cluster('IMPORTDONE', m, slots, String(parts), String(count))),
      () => apply(s1, cluster('MOVECOMMIT', m)),
      paged ? releasePage : () => apply(s2, cluster('RELEASE', m, slots)),
    ];
    const back: (() => CommandResult)[] = [
      () => apply(s3, cluster('REJECT', m, slots)),
      () => apply(s1, cluster('MOVEABORT', m)),
      () => apply(s2, cluster('UNFREEZE', m, slots)),
    ];
    const queues = [fwd, back];
    const done = [false, false];
    const servers = (): number => [s2, s3].filter((kv) => ownershipRefusal(kv, Buffer.from(a)) === null).length;
    while (!done[0] || !done[1]) {
      // The forward path has many more steps: favour it so both outcomes occur.
      const which = done[0] ? 1 : done[1] ? 0 : rand(8) === 0 ? 1 : 0;
      const next = queues[which]!.shift();
      if (next === undefined) {
        done[which] = true;
        continue;
      }
      const r = next();
      if (r.type === 'error') done[which] = true;
      t.true(servers() <= 1, `round ${round}: two shards serve ${a}`);
      if (servers() > 1) return;
    }
    const owner = [s2, s3].find((kv) => ownershipRefusal(kv, Buffer.from(a)) === null);
    t.not(owner, undefined, `round ${round}: the slot ended with no owner (stuck frozen)`);
    if (owner === s3) {
      finished++;
      t.true(parts >= 2, `round ${round}: ${parts} parts`);
      t.is(stateSummary(s2).tokens, 0, `round ${round}: the source kept none of the slot's token records (${paged ? 'RELEASEPAGE' : 'RELEASE'})`);
    }
    if (owner === s2) aborted++;
    t.is([...s3.entries()].filter((e) => e.key[0] === 0x12).length, 0, `round ${round}: no staged part left behind`);
    if (owner !== undefined) t.is(intOf(apply(owner, inc(a))), 1201n, `round ${round}`);
    if (owner !== undefined) t.is(intOf(apply(owner, inc(a, `1000-${a}-700`))), 701n, `round ${round}: tokens moved exactly`);
  }
  t.log(`${finished} rounds finished on the target, ${aborted} rolled back to the source`);
  t.true(finished > 0 && aborted > 0, 'both outcomes were exercised');
});

test('the data copy over real LMDB: one scan per export, counters and token order rebuilt on the target', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-move-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const src = LmdbStore.open({ path: join(dir, 'src') });
  const dst = LmdbStore.open({ path: join(dir, 'dst') });
  t.teardown(async () => {
    await src.close();
    await dst.close();
  });
  const { s1 } = cluster3();
  const buckets = bucketsOf(s1, '2', 20);
  const view = readCatalog(s1);
  await src.write((txn) => {
    markSharded(txn, '2');
    apply(txn, cluster('SETSLOTS', '2', '1', view.shards.find((s) => s.id === '2')!.slots.toBase64()));
    for (const [i, b] of buckets.entries()) for (let k = 0; k <= i; k++) apply(txn, inc(b, `1000-${b}-${k}`));
  });
  await dst.write((txn) => {
    markSharded(txn, '3');
    apply(txn, cluster('SETSLOTS', '3', '1', new SlotSet().toBase64()));
  });
  const moving = SlotSet.of(buckets.slice(0, 10).map((b) => slotOf(b)));
  const m = String(begin(s1, '2', '3', moving));
  await src.write((txn) => apply(txn, cluster('FREEZE', m, moving.toBase64())));
  const exported = await src.write((txn) => apply(txn, cluster('EXPORT', m, moving.toBase64())));
  const r = await dst.write((txn) => apply(txn, cluster('IMPORT', m, moving.toBase64(), bulkOf(exported).toString('base64'))));
  t.is(intOf(r), BigInt(moving.size));
  await src.write((txn) => apply(txn, cluster('RELEASE', m, moving.toBase64())));
  const movedBuckets = buckets.filter((b) => moving.has(slotOf(b)));
  const sumSeq = stateSummary.bind(null);
  t.is(dst.read(sumSeq).sequences, movedBuckets.length);
  t.is(src.read(sumSeq).sequences, buckets.length - movedBuckets.length);
  t.is(dst.read(sumSeq).tokens + src.read(sumSeq).tokens, buckets.reduce((n, _, i) => n + i + 1, 0));
  for (const b of movedBuckets) {
    const i = buckets.indexOf(b);
    t.is(intOf(dst.read((kv) => read(kv, get(b) as GetCommand))), BigInt(i + 1));
    const again = await dst.write((txn) => apply(txn, inc(b, `1000-${b}-0`)));
    t.is(intOf(again), 1n, 'token of the first INC still known on the target');
  }
});

test('a chunked import over real LMDB: 3,000 tokens of one bucket in pages, installed exactly by IMPORTDONE', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-move-paged-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const src = LmdbStore.open({ path: join(dir, 'src') });
  const dst = LmdbStore.open({ path: join(dir, 'dst') });
  t.teardown(async () => {
    await src.close();
    await dst.close();
  });
  const { s1 } = cluster3();
  const [big, small] = bucketsOf(s1, '2', 2) as [string, string];
  const view = readCatalog(s1);
  await src.write((txn) => {
    markSharded(txn, '2');
    apply(txn, cluster('SETSLOTS', '2', '1', view.shards.find((s) => s.id === '2')!.slots.toBase64()));
    for (let k = 0; k < 3000; k++) apply(txn, inc(big, `1000-${big}-${k}`));
    apply(txn, inc(small));
  });
  await dst.write((txn) => {
    markSharded(txn, '3');
    apply(txn, cluster('SETSLOTS', '3', '1', new SlotSet().toBase64()));
  });
  const moving = SlotSet.of([slotOf(big), slotOf(small)]).toBase64();
  const m = String(begin(s1, '2', '3', SlotSet.fromBase64(moving)!));
  await src.write((txn) => apply(txn, cluster('FREEZE', m, moving)));
  let cursor = '-';
  let parts = 0;
  let count = 0n;
  for (let last = false; !last; parts++) {
    const r = await src.write((txn) => apply(txn, cluster('EXPORTPAGE', m, moving, cursor)));
    if (r.type !== 'array') throw new Error(JSON.stringify(r));
    const [data, n, key, done] = r.value as [Buffer, bigint, Buffer, bigint];
    t.true(data.length <= 40 * 1024 + 64, `page of ${data.length} bytes`);
    t.is(intOf(await dst.write((txn) => apply(txn, cluster('IMPORTPART', m, moving, String(parts), cursor, data.toString('base64'))))), n);
    t.is(dst.read((kv) => ownershipRefusal(kv, Buffer.from(big)))?.type, 'error', 'a staged part does not make the target an owner');
    cursor = key.toString('base64');
    count += n;
    last = done === 1n;
  }
  t.true(parts >= 5, `${parts} parts`);
  t.is(count, 3002n, '3,000 tokens and two sequences');
  t.is(intOf(await dst.write((txn) => apply(txn, cluster('IMPORTDONE', m, moving, String(parts), String(count))))), 2n);
  await src.write((txn) => apply(txn, cluster('RELEASE', m, moving)));
  t.is(dst.read(stateSummary).tokens, 3000);
  t.is(src.read(stateSummary).tokens, 0);
  t.is(intOf(dst.read((kv) => read(kv, get(big) as GetCommand))), 3000n);
  t.is(intOf(await dst.write((txn) => apply(txn, inc(big, `1000-${big}-2999`)))), 3000n, 'the newest token moved');
  t.is(intOf(await dst.write((txn) => apply(txn, inc(big, `1000-${big}-0`)))), 1n, 'the oldest token moved');
  t.is(intOf(await dst.write((txn) => apply(txn, inc(small)))), 2n);
  t.is(dst.read((kv) => [...kv.scan(Buffer.of(0x12))].length), 0, 'staging emptied');
});
