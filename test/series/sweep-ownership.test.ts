/**
 * The reservation-expiry sweep (issue 12) never changes a bucket this shard may not change: a
 * slot frozen for a move keeps its records exactly as exported until it is released or
 * unfrozen (then they expire where the slot is served), and a bucket of another shard's slot is
 * left alone, while due reservations of owned buckets behind them still expire.
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { markSharded } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { MemoryKv, StateMachine, decodeCommand, encodeCommand, parseCommand, type Command, type CommandResult, type ResultItem } from '../../node/state-machine/index.ts';
import { SPACE_SERIES_EXPIRY } from '../../node/state-machine/series-keys.ts';

const machine = new StateMachine();
const T0 = 1_700_000_000_000;
const apply = (kv: MemoryKv, timeMs: number, c: Command): CommandResult => {
  const d = decodeCommand(encodeCommand(c, timeMs));
  return machine.apply(kv, d.command, d.timeMs);
};
const run = (kv: MemoryKv, timeMs: number, ...args: string[]): CommandResult => apply(kv, timeMs, parseCommand(args.map((a) => Buffer.from(a))));
const cluster = (kv: MemoryKv, ...args: string[]): CommandResult => apply(kv, T0, parseClusterCommand(['CLUSTER', ...args].map((a) => Buffer.from(a))));

/** Distinct-slot buckets. */
function buckets(n: number): string[] {
  const out: string[] = [];
  const seen = new Set<number>();
  for (let i = 0; out.length < n; i++) {
    if (seen.has(slotOf(`w${i}`))) continue;
    seen.add(slotOf(`w${i}`));
    out.push(`w${i}`);
  }
  return out;
}

const stateOf = (kv: MemoryKv, bucket: string, n: number): string => {
  const r = run(kv, T0 + 1, 'AUDIT', bucket, 'inv', 'FROM', String(n), 'TO', String(n));
  if (r.type !== 'array') throw new Error(JSON.stringify(r));
  return ((r.value[0] as readonly ResultItem[])[1] as Buffer).toString();
};

function snapshotOf(kv: MemoryKv, bucket: string): string {
  return [...kv.entries()].filter((e) => e.key.includes(Buffer.from(bucket))).map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`).join(',');
}

test('the sweep skips a frozen slot (records unchanged until unfrozen) and a slot not owned, and still expires owned ones', (t) => {
  const [frozen, owned, other] = buckets(3) as [string, string, string];
  const kv = new MemoryKv();
  markSharded(kv, '2');
  const all = SlotSet.of([slotOf(frozen), slotOf(owned), slotOf(other)]);
  t.is(cluster(kv, 'SETSLOTS', '2', '1', all.toBase64()).type, 'int');
  // Reservations due at T0 + 10 s in all three buckets.
  for (const b of [frozen, owned, other]) t.deepEqual(run(kv, T0, 'RESERVE', b, 'inv', 'TTL', '10'), { type: 'int', value: 1n });
  // `other`'s slot stops being owned here with its records left behind (as stale data would be),
  // to check the sweep does not touch a bucket it does not own.
  const before = snapshotOf(kv, other);
  const owners = [...kv.entries()].find((e) => e.key.equals(Buffer.concat([Buffer.of(0x10), Buffer.from('slots')])))!;
  const bits = Buffer.from(owners.value);
  bits[slotOf(other) >> 3]! &= ~(1 << (slotOf(other) & 7)) & 0xff;
  kv.put(owners.key, bits);
  t.is(cluster(kv, 'FREEZE', '6', SlotSet.of([slotOf(frozen)]).toBase64()).type, 'ok');
  const frozenBefore = snapshotOf(kv, frozen);

  // A write to the owned bucket after the TTL runs the sweep.
  t.deepEqual(run(kv, T0 + 20_000, 'INC', owned, 'n'), { type: 'int', value: 1n });
  t.is(stateOf(kv, owned, 1), 'void', 'the owned bucket\'s due reservation expired');
  t.is(snapshotOf(kv, frozen), frozenBefore, 'the frozen bucket is untouched, index entry included');
  t.is(snapshotOf(kv, other), before, 'the bucket not owned is untouched');
  t.is([...kv.entries()].filter((e) => e.key[0] === SPACE_SERIES_EXPIRY).length, 2, 'their index entries stay');

  // Unfrozen (the move was rolled back): the next write's sweep expires it here.
  t.is(cluster(kv, 'UNFREEZE', '6', SlotSet.of([slotOf(frozen)]).toBase64()).type, 'int');
  t.deepEqual(run(kv, T0 + 21_000, 'INC', owned, 'n'), { type: 'int', value: 2n });
  t.is(stateOf(kv, frozen, 1), 'void');
  t.is(snapshotOf(kv, other), before);
});
