/**
 * The coordinator's move driver (node/rebalance/mover.ts) against in-memory shards applying the
 * real state machine: a coordinator "killed" after any step and resumed from the catalog's move
 * record ends with exactly one owner and the source's exact values; data larger than one import
 * moves in staged pages, resumable between pages and dropped by REJECT.
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { ErrorCode } from '../../shared/errors.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { slotTable } from '../../node/ownership/catalog.ts';
import { encodeClusterCommand, parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { encodeArgs } from '../../router/node-connection.ts';
import { defaultRequestLimits } from '../../shared/protocol/index.ts';
import { readMove } from '../../node/ownership/move-catalog.ts';
import { ownershipRefusal } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { exportSlotPage } from '../../node/ownership/slot-data.ts';
import { runMove, type MoveSpec, type MoveStep } from '../../node/rebalance/mover.ts';
import { StepRefused, type ShardClient } from '../../node/rebalance/shard-client.ts';
import { stateSummary, type CommandResult } from '../../node/state-machine/index.ts';
import { apply, cluster, inc, threeShards, type Shards } from '../helpers/logged-apply.ts';


const codeOf = (r: CommandResult): string => (r.type === 'error' ? r.code : r.type);
const intOf = (r: CommandResult): bigint => {
  if (r.type !== 'int') throw new Error(`expected int, got ${JSON.stringify(r)}`);
  return r.value;
};

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
      case 'array':
        return { kind: 'array', items: r.value.map((v) => (typeof v === 'bigint' ? { kind: 'integer', value: v } : { kind: 'string', value: v as Buffer })) };
      case 'error':
        throw new StepRefused(shard, r.code === ErrorCode.MOVE_REFUSED ? r.message : `-ERR ${r.message}`);
    }
    throw new Error('unreachable');
  };
  return { call } as unknown as ShardClient;
}

const setup = threeShards;

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

test('a slot far larger than one import (5,000 tokens) moves in pages, exactly', async (t) => {
  const s = setup();
  const [a, b] = bucketsOf(s, '2', 2) as [string, string];
  for (let k = 0; k < 5000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  apply(s[2]!, inc(b));
  const log: string[] = [];
  const client = fakeClient(s, log);
  const outcome = await runMove({ client, addrsOf: () => [], log: () => {} }, begin(s, SlotSet.of([slotOf(a), slotOf(b)])));
  t.is(outcome.result, 'moved');
  const parts = log.filter((l) => l.startsWith('3 IMPORTPART int')).length;
  t.true(parts >= 5, `imported in ${parts} parts: ${log.slice(0, 8).join(', ')}`);
  t.deepEqual(servers(s, a), ['3']);
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 5001n }, 'numbers continue from the source');
  for (const k of [0, 1234, 4999]) t.deepEqual(apply(s[3]!, inc(a, `1000-${a}-${k}`)), { type: 'int', value: BigInt(k + 1) }, `token ${k} moved`);
  t.deepEqual(apply(s[3]!, inc(b)), { type: 'int', value: 2n });
  t.is([...s[3]!.entries()].filter((e) => e.key[0] === 0x12).length, 0, 'staging is empty after IMPORTDONE');
  t.is(apply(s[2]!, inc(a)).type, 'error', 'the source no longer serves it');
  // 5,000 token records and two sequences at 2,048 a page: three RELEASEPAGE steps, no RELEASE.
  t.deepEqual(log.filter((l) => l.startsWith('2 RELEASE')), ['2 RELEASEPAGE array', '2 RELEASEPAGE array', '2 RELEASEPAGE array']);
  t.is(stateSummary(s[2]!).tokens, 0, 'the source dropped every token record of the slot');
  t.is(stateSummary(s[2]!).sequences, 0);
});

/** fakeClient, except that RELEASEPAGE is refused with `reply` (from its `page`-th call on), as a shard that cannot run it. */
function withoutReleasePage(inner: ShardClient, reply: string, page = 0, calls = { n: 0 }, until = Infinity): ShardClient {
  const call = async (shard: string, addrs: () => readonly string[], args: readonly string[]): Promise<Reply> => {
    if (args[1] === 'RELEASEPAGE' && calls.n++ >= page && calls.n <= until) throw new StepRefused(shard, reply);
    return inner.call(shard, addrs, args);
  };
  return { call } as unknown as ShardClient;
}

for (const [why, reply] of [
  ['a member of an older build (FEATUREOFF)', '-FEATUREOFF RELEASEPAGE is off on this shard'],
  ['an older leader (unknown subcommand)', "-ERR unknown subcommand for 'cluster'"],
] as const) {
  test(`a source that cannot run RELEASEPAGE, ${why}, is released in one RELEASE`, async (t) => {
    const s = setup();
    const [a] = bucketsOf(s, '2', 1) as [string];
    for (let k = 0; k < 3000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
    const log: string[] = [];
    const client = withoutReleasePage(fakeClient(s, log), reply);
    const outcome = await runMove({ client, addrsOf: () => [], log: () => {} }, begin(s, SlotSet.of([slotOf(a)])));
    t.is(outcome.result, 'moved');
    t.not(outcome.windowMs, null, 'the window ends at the release');
    t.deepEqual(log.filter((l) => l.startsWith('2 RELEASE')), ['2 RELEASE int']);
    t.is(stateSummary(s[2]!).tokens, 0);
    t.is(readMove(s[1]!), null, 'the move ended');
    t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 3001n });
  });
}

test('a new leader that refuses RELEASEPAGE for a moment (FEATUREOFF) after a first page: the pages go on once it takes them, nothing left behind', async (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  for (let k = 0; k < 5000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  const log: string[] = [];
  // Calls 2..4 (after page 0) refused, then taken again.
  const client = withoutReleasePage(fakeClient(s, log), '-FEATUREOFF RELEASEPAGE is off on this shard', 1, { n: 0 }, 4);
  const outcome = await runMove({ client, addrsOf: () => [], log: () => {}, releasePageOffWaitMs: 10_000 }, begin(s, SlotSet.of([slotOf(a)])));
  t.is(outcome.result, 'moved');
  t.deepEqual(log.filter((l) => l.startsWith('2 RELEASE')), ['2 RELEASEPAGE array', '2 RELEASEPAGE array', '2 RELEASEPAGE array']);
  t.is(stateSummary(s[2]!).tokens, 0);
});

test('a source that stops taking RELEASEPAGE after a first page (a member rolled back): the move still ends, the rest stays unserved', async (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  for (let k = 0; k < 5000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  const log: string[] = [];
  const lines: string[] = [];
  const client = withoutReleasePage(fakeClient(s, log), '-FEATUREOFF RELEASEPAGE is off on this shard', 1);
  const startedMs = Date.now();
  const outcome = await runMove({ client, addrsOf: () => [], log: (l) => lines.push(l), releasePageOffWaitMs: 600 }, begin(s, SlotSet.of([slotOf(a)])));
  t.is(outcome.result, 'moved');
  t.true(Date.now() - startedMs >= 600, 'it waited for RELEASEPAGE to be taken again first');
  t.deepEqual(log.filter((l) => l.startsWith('2 RELEASE')), ['2 RELEASEPAGE array', '2 RELEASE int']);
  t.is(stateSummary(s[2]!).tokens, 5000 - 2047, 'one page deleted (the sequence and 2,047 token records)');
  t.true(lines.some((l) => /stopped taking RELEASEPAGE/.test(l)), lines.join('\n'));
  t.is(codeOf(apply(s[2]!, inc(a))), 'MOVED', 'the leftovers are not served');
  t.is(readMove(s[1]!), null, 'the move ended');
});

test('the next page is read from the source while the current one is staged on the target; parts stay in order', async (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  for (let k = 0; k < 3000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  const log: string[] = [];
  const inner = fakeClient(s, log);
  // Each step takes a few ms, as a log commit does; note which steps overlap.
  const inFlight = new Set<string>();
  let overlaps = 0;
  const slow = {
    call: async (shard: string, addrs: () => readonly string[], args: readonly string[]): Promise<Reply> => {
      const name = `${shard} ${args[1]} ${args[4] ?? ''}`;
      inFlight.add(name);
      const names = [...inFlight];
      if (names.some((n) => n.includes(' EXPORTPAGE ')) && names.some((n) => n.includes(' IMPORTPART '))) overlaps++;
      await new Promise((r) => setTimeout(r, 3));
      try {
        return await inner.call(shard, addrs, args);
      } finally {
        inFlight.delete(name);
      }
    },
  } as unknown as ShardClient;
  const outcome = await runMove({ client: slow, addrsOf: () => [], log: () => {} }, begin(s, SlotSet.of([slotOf(a)])));
  t.is(outcome.result, 'moved');
  const parts = log.filter((l) => l.startsWith('3 IMPORTPART int')).length;
  t.true(parts >= 3, `${parts} parts`);
  t.true(overlaps >= parts - 1, `exports overlapping an import: ${overlaps} of ${parts} parts`);
  t.false(log.some((l) => l.includes('IMPORTPART') && !l.endsWith(' int')), `a part refused: ${log.join(', ')}`);
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 3001n }, 'numbers continue from the source');
  for (const k of [0, 1500, 2999]) t.deepEqual(apply(s[3]!, inc(a, `1000-${a}-${k}`)), { type: 'int', value: BigInt(k + 1) }, `token ${k} moved`);
});

test('a coordinator killed between parts resumes from the staged parts: no part sent twice, one owner throughout', async (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  for (let k = 0; k < 3000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  const log: string[] = [];
  const client = fakeClient(s, log);
  let parts = 0;
  const afterStep = (step: MoveStep): void => {
    if (step === 'part' && ++parts === 2) throw new Crash(step);
  };
  const move = begin(s, SlotSet.of([slotOf(a)]));
  await t.throwsAsync(runMove({ client, addrsOf: () => [], log: () => {}, afterStep }, move), { instanceOf: Crash });
  t.deepEqual(servers(s, a), [], 'frozen on the source, staged (not owned) on the target');
  t.is(ownershipRefusal(s[3]!, Buffer.from(a))?.type, 'error');
  t.is(log.filter((l) => l.startsWith('3 IMPORTPART')).length, 2);
  let pages = 0;
  for (let after: Buffer = Buffer.alloc(0), done = false; !done; pages++) ({ last: after, done } = exportSlotPage(s[2]!, move.slots, after));
  const mark = log.length;
  const outcome = await runMove({ client, addrsOf: () => [], log: () => {} }, readMove(s[1]!)!);
  t.is(outcome.result, 'moved');
  t.is(log.slice(mark).filter((l) => l.startsWith('3 IMPORTPART')).length, pages - 2, `the resumed run sends only the ${pages - 2} missing parts`);
  t.deepEqual(servers(s, a), ['3']);
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 3001n });
  for (const k of [0, 1500, 2999]) t.deepEqual(apply(s[3]!, inc(a, `1000-${a}-${k}`)), { type: 'int', value: BigInt(k + 1) });
});

test('REJECT with staged parts: staging dropped, no later part or IMPORTDONE of that epoch applies, the source serves again', async (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  for (let k = 0; k < 2000; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  const client = fakeClient(s, []);
  let parts = 0;
  const afterStep = (step: MoveStep): void => {
    if (step === 'part' && ++parts === 1) throw new Crash(step);
  };
  const move = begin(s, SlotSet.of([slotOf(a)]));
  await t.throwsAsync(runMove({ client, addrsOf: () => [], log: () => {}, afterStep }, move), { instanceOf: Crash });
  t.true([...s[3]!.entries()].some((e) => e.key[0] === 0x12), 'a part is staged');
  const m = String(move.epoch);
  const slots = move.slots.toBase64();
  t.is(apply(s[3]!, cluster('REJECT', m, slots)).type, 'ok', 'staged parts do not make the target an owner: REJECT is allowed');
  t.is([...s[3]!.entries()].filter((e) => e.key[0] === 0x12).length, 0, 'REJECT dropped the staged parts');
  t.is(codeOf(apply(s[3]!, cluster('IMPORTDONE', m, slots, '1', '1'))), 'MOVE_REFUSED');
  const page = apply(s[2]!, cluster('EXPORTPAGE', m, slots, '-'));
  if (page.type !== 'array') throw new Error('page');
  t.is(codeOf(apply(s[3]!, cluster('IMPORTPART', m, slots, '0', '-', (page.value[0] as Buffer).toString('base64')))), 'MOVE_REFUSED');
  const out = await runMove({ client, addrsOf: () => [], log: () => {} }, readMove(s[1]!)!);
  t.is(out.result, 'aborted');
  t.deepEqual(servers(s, a), ['2']);
  t.deepEqual(apply(s[2]!, inc(a)), { type: 'int', value: 2001n });
  t.is(readMove(s[1]!), null);
});

test('IMPORTPART keeps one chain: out-of-order parts and wrong totals are refused, a repeated part is idempotent', (t) => {
  const s = setup();
  const [a] = bucketsOf(s, '2', 1) as [string];
  for (let k = 0; k < 1500; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  const move = begin(s, SlotSet.of([slotOf(a)]));
  const m = String(move.epoch);
  const slots = move.slots.toBase64();
  apply(s[2]!, cluster('FREEZE', m, slots));
  const pageAfter = (cursor: string): { data: string; count: bigint; next: string; done: boolean } => {
    const r = apply(s[2]!, cluster('EXPORTPAGE', m, slots, cursor));
    if (r.type !== 'array') throw new Error(JSON.stringify(r));
    const [data, count, last, done] = r.value as [Buffer, bigint, Buffer, bigint];
    return { data: data.toString('base64'), count, next: last.length === 0 ? '-' : last.toString('base64'), done: done === 1n };
  };
  const p0 = pageAfter('-');
  const p1 = pageAfter(p0.next);
  t.false(p0.done);
  t.is(codeOf(apply(s[3]!, cluster('IMPORTPART', m, slots, '1', p0.next, p1.data))), 'SYNTAX', 'part 1 before part 0');
  t.is(intOf(apply(s[3]!, cluster('IMPORTPART', m, slots, '0', '-', p0.data))), p0.count);
  t.is(intOf(apply(s[3]!, cluster('IMPORTPART', m, slots, '0', '-', p0.data))), p0.count, 'repeated part');
  t.is(codeOf(apply(s[3]!, cluster('IMPORTPART', m, slots, '1', '-', p1.data))), 'SYNTAX', 'wrong cursor');
  t.is(intOf(apply(s[3]!, cluster('IMPORTPART', m, slots, '1', p0.next, p1.data))), p1.count);
  let cursor = p1.next;
  let parts = 2;
  let count = p0.count + p1.count;
  for (let done = p1.done; !done; parts++) {
    const p = pageAfter(cursor);
    t.is(intOf(apply(s[3]!, cluster('IMPORTPART', m, slots, String(parts), cursor, p.data))), p.count);
    cursor = p.next;
    count += p.count;
    done = p.done;
  }
  t.is(count, 1501n, '1,500 tokens and the sequence');
  t.is(codeOf(apply(s[3]!, cluster('IMPORTDONE', m, slots, String(parts), String(count - 1n)))), 'SYNTAX', 'wrong total');
  t.is(codeOf(apply(s[3]!, cluster('IMPORTDONE', m, slots, String(parts + 1), String(count)))), 'SYNTAX', 'missing part');
  t.is(ownershipRefusal(s[3]!, Buffer.from(a))?.type, 'error', 'still not an owner');
  t.is(intOf(apply(s[3]!, cluster('IMPORTDONE', m, slots, String(parts), String(count)))), 1n);
  t.is(intOf(apply(s[3]!, cluster('IMPORTDONE', m, slots, String(parts), String(count)))), 0n, 'repeated IMPORTDONE is a no-op');
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: 1501n });
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
    const move = begin(s, SlotSet.of([slotOf(c)]));
    // The target refuses the import (a REJECT committed first), so the coordinator rolls back.
    apply(s[3]!, cluster('REJECT', String(move.epoch), move.slots.toBase64()));
    const afterStep = (step: MoveStep): void => {
      if (step === crashAt) throw new Crash(step);
    };
    await t.throwsAsync(runMove({ client, addrsOf: () => [], log: () => {}, afterStep }, move), { instanceOf: Crash });
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

test('one IMPORTPART of a page of the largest entries fits the 64 KiB request limit and the Raft entry bound', (t) => {
  const s = setup();
  // Longest names (256 bytes) and tokens (64 bytes): the largest token keys a page can hold.
  const table = slotTable(s[1]!);
  let bucket = '';
  for (let i = 0; bucket === ''; i++) {
    const b = `${'x'.repeat(250)}${String(i).padStart(6, '0')}`;
    if (table[slotOf(b)] === '2') bucket = b;
  }
  const sequence = 's'.repeat(256);
  for (let k = 0; k < 400; k++) {
    const r = apply(s[2]!, { type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from(sequence), count: 1, token: Buffer.from(`1000-${String(k).padStart(59, '0')}`) });
    t.is(r.type, 'int');
  }
  const all = SlotSet.of(Array.from({ length: 16384 }, (_, i) => i));
  const page = exportSlotPage(s[2]!, SlotSet.of([slotOf(bucket)]), Buffer.alloc(0));
  t.false(page.done, 'the data spans pages');
  // Worst case: a cursor of the longest key, a full slot bitmap.
  const args = ['CLUSTER', 'IMPORTPART', '99999', all.toBase64(), '65535', page.last.toString('base64'), page.data.toString('base64')];
  const request = encodeArgs(args);
  t.true(request.length < defaultRequestLimits.requestBytesMax, `request of ${request.length} bytes`);
  const command = parseClusterCommand(args.map((a) => Buffer.from(a, 'latin1')));
  const entry = encodeClusterCommand(command, Date.now());
  t.true(entry.length < 1 << 20, `log entry of ${entry.length} bytes (maxMsgBytes is 1 MiB)`);
});
