/**
 * CLUSTER RELEASEPAGE (node/ownership/move-shard.ts releasePage): the source's release of a
 * moved batch in bounded apply steps. Its first page drops ownership as RELEASE does; its pages
 * delete at most n entries each, after their cursor; its end state is byte for byte the one a
 * single RELEASE leaves, over MemoryKv and over real LMDB.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { slotOf } from '../../shared/placement/slot.ts';
import { slotTable } from '../../node/ownership/catalog.ts';
import { ownershipRefusal } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { LmdbStore, MemoryKv, type CommandResult, type KvReader, type KvTxn } from '../../node/state-machine/index.ts';
import { apply, cluster, inc, threeShards } from '../helpers/logged-apply.ts';
import { copyKv } from '../helpers/kv-copy.ts';

const codeOf = (r: CommandResult | null): string => (r === null ? 'served' : r.type === 'error' ? r.code : r.type);

/** [slots released, entries deleted, cursor, done] of a RELEASEPAGE reply. */
function pageOf(r: CommandResult): { released: bigint; deleted: bigint; cursor: string; done: boolean } {
  if (r.type !== 'array') throw new Error(`expected a page, got ${JSON.stringify(r)}`);
  const [released, deleted, key, done] = r.value as [bigint, bigint, Buffer, bigint];
  return { released, deleted, cursor: key.length === 0 ? '-' : key.toString('base64'), done: done === 1n };
}

function bucketsOf(s1: KvReader, owner: string, n: number): string[] {
  const table = slotTable(s1);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (table[slotOf(`r${i}`)] === owner) out.push(`r${i}`);
  return out;
}

function dump(kv: KvReader): string[] {
  return [...kv.scan(Buffer.alloc(0))].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`);
}


/**
 * Shard 2 with `tokens` token records in moving bucket `a`, a few INCs in moving bucket `b` and
 * in staying bucket `c`, the move of a's and b's slots begun and frozen. Returns the epoch.
 */
function frozenSource(fill: (write: (txn: KvTxn) => void) => void, tokens: number): { m: string; slots: string; a: string; c: string } {
  const s = threeShards();
  const [a, b, c] = bucketsOf(s[1]!, '2', 3) as [string, string, string];
  const begun = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', SlotSet.of([slotOf(a), slotOf(b)]).toBase64()));
  if (begun.type !== 'bulk') throw new Error(JSON.stringify(begun));
  const m = String((JSON.parse(begun.value.toString()) as { epoch: number }).epoch);
  const slots = SlotSet.of([slotOf(a), slotOf(b)]).toBase64();
  fill((txn) => {
    for (const { key, value } of s[2]!.entries()) txn.put(key, value);
    for (let k = 0; k < tokens; k++) apply(txn, inc(a, `1000-${a}-${k}`));
    for (let k = 0; k < 3; k++) apply(txn, inc(b));
    for (let k = 0; k < 50; k++) apply(txn, inc(c, `1000-${c}-${k}`));
    apply(txn, cluster('FREEZE', m, slots));
  });
  return { m, slots, a, c };
}

test('RELEASEPAGE: the first page drops ownership, each page deletes at most n after its cursor, the end state is what RELEASE leaves', (t) => {
  const kv = new MemoryKv();
  const { m, slots, a, c } = frozenSource((write) => write(kv), 1000);
  const reference = copyKv(kv);
  apply(reference, cluster('RELEASE', m, slots));
  t.is(codeOf(ownershipRefusal(kv, Buffer.from(a))), 'TRY_AGAIN', 'frozen before the release');

  const first = pageOf(apply(kv, cluster('RELEASEPAGE', m, slots, '-', '100')));
  t.deepEqual([first.released, first.deleted, first.done], [2n, 100n, false]);
  t.is(codeOf(ownershipRefusal(kv, Buffer.from(a))), 'MOVED', 'not owned from the first page on');
  t.is(codeOf(ownershipRefusal(kv, Buffer.from(c))), 'served', 'other buckets are served between pages');
  t.notDeepEqual(dump(kv), dump(reference), 'data is left after one page');

  let cursor = first.cursor;
  let pages = 1;
  for (let deleted = 100n; ; ) {
    const p = pageOf(apply(kv, cluster('RELEASEPAGE', m, slots, cursor, '100')));
    pages++;
    t.is(p.released, 0n, 'only the first page releases slots');
    t.true(p.deleted <= 100n);
    deleted += p.deleted;
    cursor = p.cursor;
    if (p.done) {
      // 1,000 token records plus their sequence, and b's sequence (c's records stay).
      t.is(deleted, 1002n);
      break;
    }
    if (pages > 20) return t.fail('the release did not end');
  }
  t.is(pages, 11, '1,002 entries at 100 a page');
  t.deepEqual(dump(kv), dump(reference), 'the same state as one RELEASE, byte for byte');
  const again = pageOf(apply(kv, cluster('RELEASEPAGE', m, slots, '-', '100')));
  t.deepEqual([again.released, again.deleted, again.done], [0n, 0n, true], 'again after the end: nothing to do, done');
  t.deepEqual(dump(kv), dump(reference));
});

test('RELEASEPAGE: a coordinator that starts over from the start (a restart) deletes what is left, and RELEASE after a first page is a no-op', (t) => {
  const kv = new MemoryKv();
  const { m, slots } = frozenSource((write) => write(kv), 500);
  const reference = copyKv(kv);
  apply(reference, cluster('RELEASE', m, slots));
  let p = pageOf(apply(kv, cluster('RELEASEPAGE', m, slots, '-', '64')));
  p = pageOf(apply(kv, cluster('RELEASEPAGE', m, slots, p.cursor, '64')));
  t.false(p.done);
  const leftover = copyKv(kv);
  t.is((apply(leftover, cluster('RELEASE', m, slots)) as { value: bigint }).value, 0n, 'RELEASE finds S released');
  t.notDeepEqual(dump(leftover), dump(reference), 'and leaves the rest where it is');
  // Restarted from "-": pages find only what is left.
  let pages = 0;
  for (let cursor = '-'; pages < 20; pages++) {
    const q = pageOf(apply(kv, cluster('RELEASEPAGE', m, slots, cursor, '64')));
    cursor = q.cursor;
    if (q.done) break;
  }
  t.true(pages < 20);
  t.deepEqual(dump(kv), dump(reference));
});

test('RELEASEPAGE guards and parse: refused where RELEASE is, bounded n, checked cursor', (t) => {
  const kv = new MemoryKv();
  const { m, slots } = frozenSource((write) => write(kv), 10);
  const s = threeShards();
  const [other] = bucketsOf(s[1]!, '2', 4).slice(3) as [string];
  const notFrozen = SlotSet.of([slotOf(other)]).toBase64();
  t.is(codeOf(apply(kv, cluster('RELEASEPAGE', m, notFrozen, '-', '10'))), 'MOVE_REFUSED', 'a slot not frozen at M');
  t.is(codeOf(apply(kv, cluster('RELEASEPAGE', String(Number(m) + 1), slots, '-', '10'))), 'MOVE_REFUSED', 'another epoch');
  for (const [n, why] of [['0', 'zero'], ['65537', 'over the bound'], ['-1', 'negative'], ['1e3', 'not an integer']] as const) {
    t.throws(() => cluster('RELEASEPAGE', m, slots, '-', n), { code: 'SYNTAX' }, why);
  }
  t.throws(() => cluster('RELEASEPAGE', m, slots, '!!', '10'), { code: 'SYNTAX' }, 'bad cursor');
  t.throws(() => cluster('RELEASEPAGE', m, slots, '-'), { code: 'WRONG_ARITY' });
  t.is(codeOf(apply(kv, cluster('RELEASEPAGE', m, slots, '-', '65536'))), 'array', 'the bound itself is taken');
});

test('RELEASEPAGE over real LMDB: 3,000 token records in pages of 256, the same state as RELEASE', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-release-page-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const paged = LmdbStore.open({ path: join(dir, 'paged') });
  const whole = LmdbStore.open({ path: join(dir, 'whole') });
  t.teardown(async () => {
    await paged.close();
    await whole.close();
  });
  const kv = new MemoryKv();
  const { m, slots } = frozenSource((write) => write(kv), 3000);
  for (const store of [paged, whole]) {
    await store.write((txn) => {
      for (const { key, value } of kv.entries()) txn.put(key, value);
    });
  }
  t.deepEqual(paged.read(dump), whole.read(dump), 'the same state to start from');
  await whole.write((txn) => apply(txn, cluster('RELEASE', m, slots)));
  let cursor = '-';
  let pages = 0;
  while (pages < 30) {
    const p = pageOf(await paged.write((txn) => apply(txn, cluster('RELEASEPAGE', m, slots, cursor, '256'))));
    pages++;
    cursor = p.cursor;
    if (p.done) break;
  }
  t.is(pages, 12, '3,002 entries at 256 a page');
  t.deepEqual(paged.read(dump), whole.read(dump));
});
