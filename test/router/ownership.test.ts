/**
 * The catalog and the ownership fence as pure logic over the state machine (MemoryKv and a real
 * LMDB store): a stale router view can send a bucket to the wrong shard, never get it served.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { slotOf, slotCount } from '../../shared/placement/slot.ts';
import { planSlots } from '../../shared/placement/ring.ts';
import { catalogFromJson, catalogToJson, readCatalog, slotTable } from '../../node/ownership/catalog.ts';
import { decodeClusterCommand, encodeClusterCommand, parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { markSharded } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import {
  LmdbStore,
  MemoryKv,
  StateMachine,
  decodeCommand,
  encodeCommand,
  type Command,
  type CommandResult,
} from '../../node/state-machine/index.ts';

const machine = new StateMachine();
const args = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));
const cluster = (...a: string[]): Command => parseClusterCommand(args('CLUSTER', ...a));
const inc = (bucket: string): Command => ({ type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from('s'), count: 1 });
const get = (bucket: string): Command => ({ type: 'get', bucket: Buffer.from(bucket), sequence: Buffer.from('s') });
/** Every command through the log codec, as a replica would see it. */
const apply = (kv: MemoryKv, c: Command): CommandResult => {
  const d = decodeCommand(encodeCommand(c, 1_000));
  return machine.apply(kv, d.command, d.timeMs);
};
const codeOf = (r: CommandResult): string => (r.type === 'error' ? r.code : r.type);
const bulkJson = (r: CommandResult): unknown => {
  if (r.type !== 'bulk') throw new Error(`expected bulk, got ${JSON.stringify(r)}`);
  return JSON.parse(r.value.toString());
};

function shardState(id: string): MemoryKv {
  const kv = new MemoryKv();
  markSharded(kv, id);
  return kv;
}

/** A bucket whose slot the plan over `ids` gives to `owner`. */
function bucketOwnedBy(ids: string[], owner: string): string {
  const plan = planSlots(ids);
  for (let i = 0; ; i++) if (plan[slotOf(`b${i}`)] === owner) return `b${i}`;
}

test('state without the sharded mark owns every bucket (seqdb dev, standalone shard)', (t) => {
  const kv = new MemoryKv();
  t.deepEqual(apply(kv, inc('x')), { type: 'int', value: 1n });
  t.deepEqual(apply(kv, get('x')), { type: 'int', value: 1n });
  t.is(codeOf(apply(kv, cluster('CATALOG'))), 'CLUSTER_DOWN');
});

test('a sharded shard with no committed ownership answers TRYAGAIN and changes nothing', (t) => {
  const kv = shardState('2');
  t.is(codeOf(apply(kv, inc('x'))), 'TRY_AGAIN');
  t.is(codeOf(apply(kv, get('x'))), 'TRY_AGAIN');
  t.is([...kv.entries()].length, 1, 'only the mode record');
});

test('catalog: register is idempotent, initslots is first-writer-wins, later shards own nothing', (t) => {
  const cat = shardState('1');
  t.is(codeOf(apply(cat, cluster('INITSLOTS'))), 'TRY_AGAIN', 'nothing registered yet');
  t.is(codeOf(apply(cat, cluster('REGISTER', '1', '127.0.0.1:1,127.0.0.1:2'))), 'ok');
  t.is(codeOf(apply(cat, cluster('REGISTER', '2', '127.0.0.2:1'))), 'ok');
  t.is(codeOf(apply(cat, cluster('REGISTER', '2', '127.0.0.2:1'))), 'ok');
  t.deepEqual(apply(cat, cluster('INITSLOTS')), { type: 'int', value: 1n });
  const table = slotTable(cat);
  t.deepEqual(table, planSlots(['1', '2']));
  // A third shard registered after initialization: listed, owns nothing; INITSLOTS again is a no-op.
  t.is(codeOf(apply(cat, cluster('REGISTER', '3', '127.0.0.3:1'))), 'ok');
  t.deepEqual(apply(cat, cluster('INITSLOTS')), { type: 'int', value: 1n });
  t.deepEqual(slotTable(cat), table);
  const view = catalogFromJson(JSON.stringify(bulkJson(apply(cat, cluster('CATALOG')))))!;
  t.is(view.epoch, 1);
  t.deepEqual(view.shards.map((s) => [s.id, s.addrs]), [['1', ['127.0.0.1:1', '127.0.0.1:2']], ['2', ['127.0.0.2:1']], ['3', ['127.0.0.3:1']]]);
  t.is(view.shards[0]!.slots.size + view.shards[1]!.slots.size, slotCount);
  t.is(view.shards[2]!.slots.size, 0);
  t.true(view.shards[0]!.slots.size > slotCount / 4 && view.shards[1]!.slots.size > slotCount / 4);
  t.is(catalogToJson(readCatalog(cat)), catalogToJson(view));
});

test('catalog commands are refused outside the catalog shard', (t) => {
  const kv = shardState('2');
  t.is(codeOf(apply(kv, cluster('REGISTER', '2', ''))), 'CLUSTER_DOWN');
  t.is(codeOf(apply(kv, cluster('INITSLOTS'))), 'CLUSTER_DOWN');
});

test('a stale router view cannot make two owners: each shard serves only its committed slots', (t) => {
  const ids = ['1', '2'];
  const cat = shardState('1');
  for (const id of ids) apply(cat, cluster('REGISTER', id, ''));
  apply(cat, cluster('INITSLOTS'));
  const view = readCatalog(cat);
  const shards = new Map(ids.map((id) => [id, shardState(id)]));
  for (const s of view.shards) {
    t.deepEqual(apply(shards.get(s.id)!, cluster('SETSLOTS', s.id, String(view.epoch), s.slots.toBase64())), { type: 'int', value: 1n });
  }
  const b = bucketOwnedBy(ids, '2');
  // A router that (wrongly) thinks shard 1 owns b: refused, nothing written there.
  const before = [...shards.get('1')!.entries()].length;
  const moved = apply(shards.get('1')!, inc(b));
  t.is(codeOf(moved), 'MOVED');
  t.regex(moved.type === 'error' ? moved.message : '', new RegExp(`^${slotOf(b)} `));
  t.is(codeOf(apply(shards.get('1')!, get(b))), 'MOVED');
  t.is([...shards.get('1')!.entries()].length, before);
  t.deepEqual(apply(shards.get('2')!, inc(b)), { type: 'int', value: 1n });
  // Every bucket is served by exactly one shard.
  for (let i = 0; i < 300; i++) {
    const served = ids.filter((id) => codeOf(apply(shards.get(id)!, get(`k${i}`))) !== 'MOVED');
    t.is(served.length, 1, `bucket k${i}`);
  }
});

test('SETSLOTS: an older or repeated epoch changes nothing; another shard id is refused', (t) => {
  const kv = shardState('2');
  const all = SlotSet.of(Array.from({ length: slotCount }, (_, i) => i)).toBase64();
  const none = new SlotSet().toBase64();
  t.deepEqual(apply(kv, cluster('SETSLOTS', '2', '2', none)), { type: 'int', value: 2n });
  t.deepEqual(apply(kv, cluster('SETSLOTS', '2', '1', all)), { type: 'int', value: 2n });
  t.deepEqual(apply(kv, cluster('SETSLOTS', '2', '2', all)), { type: 'int', value: 2n });
  t.is(codeOf(apply(kv, inc('x'))), 'MOVED');
  t.is(codeOf(apply(kv, cluster('SETSLOTS', '3', '5', all))), 'SYNTAX');
  t.deepEqual(bulkJson(apply(kv, cluster('OWNERSHIP'))), { shard: '2', epoch: 2, slots: 0 });
});

test('cluster command parsing is strict and the log encoding round-trips', (t) => {
  const bad = [
    ['SETSLOTS', '2', '0', new SlotSet().toBase64()],
    ['SETSLOTS', '2', '1', 'AAAA'],
    ['SETSLOTS', '__proto__!', '1', new SlotSet().toBase64()],
    ['REGISTER', '2', 'nope'],
    ['REGISTER', '2'],
    ['FROB'],
  ];
  for (const b of bad) t.throws(() => cluster(...b), undefined, b.join(' '));
  const c = cluster('SETSLOTS', '2', '7', SlotSet.of([0, 5, 16383]).toBase64());
  const d = decodeClusterCommand(encodeClusterCommand(c as never, 42));
  t.is(d.timeMs, 42);
  t.deepEqual(d.command, c);
});

test('the fence works the same over a real LMDB store (GET at read time included)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-own-'));
  const store = LmdbStore.open({ path: dir });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await store.write((txn) => markSharded(txn, '2'));
  const mine = SlotSet.of([slotOf('mine')]);
  const r = await store.write((txn) => machine.apply(txn, cluster('SETSLOTS', '2', '1', mine.toBase64()), 1));
  t.deepEqual(r, { type: 'int', value: 1n });
  t.deepEqual(await store.write((txn) => machine.apply(txn, inc('mine'), 1)), { type: 'int', value: 1n });
  t.is(codeOf(await store.write((txn) => machine.apply(txn, inc('theirs'), 1))), 'MOVED');
  const { read } = await import('../../node/state-machine/index.ts');
  t.is(codeOf(store.read((kv) => read(kv, get('theirs') as never))), 'MOVED');
  t.deepEqual(store.read((kv) => read(kv, get('mine') as never)), { type: 'int', value: 1n });
});
