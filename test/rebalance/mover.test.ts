/**
 * The coordinator's move driver (node/rebalance/mover.ts) against in-memory shards applying the
 * real state machine: a coordinator "killed" after any step and resumed from the catalog's move
 * record ends with exactly one owner and the source's exact values; exports too large for one
 * import are split; a slot that can never fit is rolled back with the source serving again.
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { ErrorCode } from '../../shared/errors.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { readCatalog, slotTable } from '../../node/ownership/catalog.ts';
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { readMove } from '../../node/ownership/move-catalog.ts';
import { markSharded, ownershipRefusal } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { runMove, type MoveSpec, type MoveStep } from '../../node/rebalance/mover.ts';
import { StepRefused, type ShardClient } from '../../node/rebalance/shard-client.ts';
import { MemoryKv, StateMachine, decodeCommand, encodeCommand, type Command, type CommandResult } from '../../node/state-machine/index.ts';

const machine = new StateMachine();
let clockMs = 1_000;
const apply = (kv: MemoryKv, c: Command): CommandResult => {
  const d = decodeCommand(encodeCommand(c, clockMs++));
  return machine.apply(kv, d.command, d.timeMs);
};
const cluster = (...a: string[]): Command => parseClusterCommand(['CLUSTER', ...a].map((x) => Buffer.from(x)));
const inc = (bucket: string, id?: string): Command => ({ type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from('s'), count: 1, ...(id ? { token: Buffer.from(id) } : {}) });

type Shards = Record<string, MemoryKv>;

/** A ShardClient whose shards are MemoryKv state machines; refusals throw as over the wire. */
function fakeClient(shards: Shards, log: string[]): ShardClient {
  const call = async (shard: string, _addrs: () => readonly string[], args: readonly string[]): Promise<Reply> => {
    const kv = shards[shard]!;
    const r = apply(kv, parseClusterCommand(args.map((a) => Buffer.from(a, 'latin1'))));
    log.push(`${shard} ${args[1]} ${r.type === 'error' ? r.code : r.type}`);
    switch (r.type) {
      case 'ok':
        return { kind: 'string', value: Buffer.from('OK') };
      case 'int':
        return { kind: 'integer', value: r.value };
      case 'bulk':
        return { kind: 'string', value: r.value };
      case 'nil':
        return { kind: 'null' };
      case 'error':
        throw new StepRefused(shard, r.code === ErrorCode.MOVE_REFUSED ? r.message : `-ERR ${r.message}`);
    }
    throw new Error('unreachable');
  };
  return { call } as unknown as ShardClient;
}

let base: Shards | null = null;
function setup(): Shards {
  if (base === null) {
    const s: Shards = { 1: new MemoryKv(), 2: new MemoryKv(), 3: new MemoryKv() };
    for (const id of ['1', '2', '3']) markSharded(s[id]!, id);
    apply(s[1]!, cluster('REGISTER', '1', '127.0.0.1:1'));
    apply(s[1]!, cluster('REGISTER', '2', '127.0.0.1:2'));
    apply(s[1]!, cluster('INITSLOTS'));
    apply(s[1]!, cluster('REGISTER', '3', '127.0.0.1:3'));
    const view = readCatalog(s[1]!);
    for (const id of ['1', '2', '3']) apply(s[id]!, cluster('SETSLOTS', id, '1', view.shards.find((x) => x.id === id)!.slots.toBase64()));
    base = s;
  }
  const copy: Shards = {};
  for (const [id, kv] of Object.entries(base)) {
    const c = new MemoryKv();
    for (const e of kv.entries()) c.put(e.key, e.value);
    copy[id] = c;
  }
  return copy;
}

function bucketsOf(s: Shards, owner: string, n: number): string[] {
  const table = slotTable(s[1]!);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (table[slotOf(`m${i}`)] === owner) out.push(`m${i}`);
  return out;
}

function begin(s: Shards, slots: SlotSet): MoveSpec {
  const r = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', slots.toBase64()));
  if (r.type !== 'bulk') throw new Error(JSON.stringify(r));
  const m = JSON.parse(r.value.toString()) as { epoch: number; from: string; to: string; slots: string; state: MoveSpec['state'] };
  return { ...m, slots: SlotSet.fromBase64(m.slots)! };
}

function servers(s: Shards, bucket: string): string[] {
  return ['2', '3'].filter((id) => ownershipRefusal(s[id]!, Buffer.from(bucket)) === null);
}

class Crash extends Error {}

const STEPS: MoveStep[] = ['freeze', 'import', 'commit', 'release', 'end'];

for (const crashAt of STEPS) {
  test(`a coordinator killed after ${crashAt} is resumed from the move record: one owner, exact values`, async (t) => {
    const s = setup();
    const buckets = bucketsOf(s, '2', 6);
    for (const [i, b] of buckets.entries()) for (let k = 0; k <= i; k++) apply(s[2]!, inc(b, `1000-${b}-${k}`));
    const move = begin(s, SlotSet.of(buckets.map((b) => slotOf(b))));
    const log: string[] = [];
    const client = fakeClient(s, log);
    const afterStep = (step: MoveStep): void => {
      if (step === crashAt) throw new Crash(step);
    };
    await t.throwsAsync(runMove({ client, addrsOf: () => [], log: () => {}, afterStep }, move), { instanceOf: Crash });
    for (const b of buckets) t.true(servers(s, b).length <= 1, `at most one owner of ${b} after the crash`);
    const record = readMove(s[1]!);
    if (crashAt === 'end') {
      t.is(record, null);
    } else {
      t.not(record, null);
      const outcome = await runMove({ client, addrsOf: () => [], log: () => {} }, { ...record!, slots: record!.slots });
      t.is(outcome.result, 'moved');
      t.is(readMove(s[1]!), null);
    }
    for (const [i, b] of buckets.entries()) {
      t.deepEqual(servers(s, b), ['3'], `${b} is served by the target only`);
      const again = apply(s[3]!, inc(b, `1000-${b}-0`));
      t.deepEqual(again, { type: 'int', value: 1n }, 'the first token is still known');
      t.deepEqual(apply(s[3]!, inc(b)), { type: 'int', value: BigInt(i + 2) }, 'numbers continue from the source');
      t.is(slotTable(s[1]!)[slotOf(b)], '3');
    }
  });
}

test('an export too large for one import is split; a single slot too large rolls the move back', async (t) => {
  const s = setup();
  const [a, b] = bucketsOf(s, '2', 2) as [string, string];
  // ~600 token records per bucket (~30 KiB each): both together exceed one import (40 KiB).
  for (let k = 0; k < 600; k++) {
    apply(s[2]!, inc(a, `1000-${a}-${k}`));
    apply(s[2]!, inc(b, `1000-${b}-${k}`));
  }
  const log: string[] = [];
  const client = fakeClient(s, log);
  const outcome = await runMove({ client, addrsOf: () => [], log: () => {} }, begin(s, SlotSet.of([slotOf(a), slotOf(b)])));
  t.is(outcome.result, 'moved');
  t.true(log.filter((l) => l.startsWith('3 IMPORT int')).length === 2, `imported in two chunks: ${log.join(', ')}`);
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 601n });
  t.deepEqual(apply(s[3]!, inc(b, `1000-${b}-599`)), { type: 'int', value: 600n });

  // One bucket with ~1000 tokens (~50 KiB) cannot move in one import: rolled back.
  const [c] = bucketsOf(s, '2', 3).slice(2) as [string];
  for (let k = 0; k < 1000; k++) apply(s[2]!, inc(c, `1000-${c}-${k}`));
  const back = await runMove({ client, addrsOf: () => [], log: () => {} }, begin(s, SlotSet.of([slotOf(c)])));
  t.is(back.result, 'aborted');
  t.regex(back.why ?? '', /exceeds one import/);
  t.deepEqual(servers(s, c), ['2'], 'the source serves again');
  t.deepEqual(apply(s[2]!, inc(c)), { type: 'int', value: 1001n });
  t.is(readMove(s[1]!), null);
  t.is(slotTable(s[1]!)[slotOf(c)], '2');
});

test('an aborting record is rolled back on resume, unless the target already imported (then it finishes)', async (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  apply(s[2]!, inc(a));
  const client = fakeClient(s, []);
  // The target refuses (REJECT committed first), so the coordinator must roll back.
  const move = begin(s, SlotSet.of([slotOf(a)]));
  apply(s[3]!, cluster('REJECT', String(move.epoch), move.slots.toBase64()));
  const out = await runMove({ client, addrsOf: () => [], log: () => {} }, move);
  t.is(out.result, 'aborted');
  t.deepEqual(servers(s, a), ['2']);
  t.deepEqual(apply(s[2]!, inc(a)), { type: 'int', value: 2n });
  // Next move of the same slot: the target imported, then someone recorded "aborting" too late.
  const move2 = begin(s, SlotSet.of([slotOf(a)]));
  const m = String(move2.epoch);
  apply(s[2]!, cluster('FREEZE', m, move2.slots.toBase64()));
  const data = apply(s[2]!, cluster('EXPORT', m, move2.slots.toBase64()));
  if (data.type !== 'bulk') throw new Error('export');
  apply(s[3]!, cluster('IMPORT', m, move2.slots.toBase64(), data.value.toString('base64')));
  const finished = await runMove({ client, addrsOf: () => [], log: () => {} }, { ...move2, state: 'aborting' });
  t.is(finished.result, 'moved', 'REJECT is refused once imported, so the move finishes');
  t.deepEqual(servers(s, a), ['3']);
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 3n });
});

for (const crashAt of ['reject', 'unfreeze'] as const) {
  test(`a coordinator killed after ${crashAt} on the abort path is resumed: rolled back, the source serves`, async (t) => {
    const s = setup();
    const [c] = bucketsOf(s, '2', 1) as [string];
    for (let k = 0; k < 1000; k++) apply(s[2]!, inc(c, `1000-${c}-${k}`));
    const client = fakeClient(s, []);
    const afterStep = (step: MoveStep): void => {
      if (step === crashAt) throw new Crash(step);
    };
    await t.throwsAsync(runMove({ client, addrsOf: () => [], log: () => {}, afterStep }, begin(s, SlotSet.of([slotOf(c)]))), { instanceOf: Crash });
    t.true(servers(s, c).length <= 1);
    const record = readMove(s[1]!)!;
    t.is(record.state, crashAt === 'reject' ? 'begun' : 'aborting');
    const out = await runMove({ client, addrsOf: () => [], log: () => {} }, record);
    t.is(out.result, 'aborted');
    t.deepEqual(servers(s, c), ['2']);
    t.deepEqual(apply(s[2]!, inc(c)), { type: 'int', value: 1001n });
    t.is(readMove(s[1]!), null);
  });
}
