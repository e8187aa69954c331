/**
 * A slot move begun before a shard applied its first SETSLOTS push (its leader was still coming
 * up when `seqdb rebalance` started): the move's steps must wait for the push (TRYAGAIN, nothing
 * written), or the shard's ownership epoch rises, the late push is taken as "already initialized"
 * and the shard never serves the slots the committed table gives it (a review found both the
 * source's and the target's case). Real state machine over LMDB and the real mover; only the
 * transport (ShardClient) applies directly, and a TRYAGAIN lets the pending push land first, as
 * the catalog agent's push does while the real client retries.
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { ErrorCode } from '../../shared/errors.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { readCatalog, slotTable } from '../../node/ownership/catalog.ts';
import { markSharded, readOwnership } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { runMove, type MoveSpec } from '../../node/rebalance/mover.ts';
import { StepRefused, type ShardClient } from '../../node/rebalance/shard-client.ts';
import { LmdbStore, type CommandResult } from '../../node/state-machine/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { apply, cluster, inc } from '../helpers/logged-apply.ts';


type Shards = Record<string, LmdbStore>;

function toReply(r: CommandResult, shard: string): Reply {
  switch (r.type) {
    case 'ok': return { kind: 'string', value: Buffer.from('OK') };
    case 'int': return { kind: 'integer', value: r.value };
    case 'bulk': return { kind: 'string', value: r.value };
    case 'nil': return { kind: 'null' };
    case 'array': return { kind: 'array', items: r.value.map((v) => (typeof v === 'bigint' ? { kind: 'integer', value: v } : { kind: 'string', value: v as Buffer })) };
    case 'error': throw new StepRefused(shard, r.code === ErrorCode.MOVE_REFUSED ? r.message : `-ERR ${r.message}`);
  }
  throw new Error('unreachable');
}

/** Applies each step directly; on TRYAGAIN, lands the shard's pending push (if any) and retries. */
function client(s: Shards, pending: Set<string>, tryAgains: string[]): ShardClient {
  const call = async (shard: string, _addrs: () => readonly string[], args: readonly string[]): Promise<Reply> => {
    for (let attempt = 0; ; attempt++) {
      const r = await s[shard]!.write((txn) => apply(txn, cluster(...args.slice(1))));
      if (r.type === 'error' && r.code === ErrorCode.TRY_AGAIN && attempt < 3) {
        tryAgains.push(`${shard} ${args[1]}`);
        if (pending.delete(shard)) await push(s, shard);
        continue;
      }
      return toReply(r, shard);
    }
  };
  return { call } as unknown as ShardClient;
}

async function open(t: Parameters<typeof tempDir>[0]): Promise<Shards> {
  const dir = await tempDir(t);
  const s: Shards = {};
  for (const id of ['1', '2', '3']) {
    s[id] = LmdbStore.open({ path: `${dir}/${id}` });
    await s[id]!.write((txn) => markSharded(txn, id));
  }
  t.teardown(async () => {
    for (const store of Object.values(s)) await store.close();
  });
  await s[1]!.write((txn) => {
    for (const id of ['1', '2', '3']) apply(txn, cluster('REGISTER', id, `127.0.0.1:${id}`));
    apply(txn, cluster('INITSLOTS'));
  });
  return s;
}

function push(s: Shards, id: string): Promise<CommandResult> {
  const view = s[1]!.read(readCatalog);
  return s[id]!.write((txn) => apply(txn, cluster('SETSLOTS', id, String(view.epoch), view.shards.find((x) => x.id === id)!.slots.toBase64())));
}

function bucketOf(s: Shards, owner: string): string {
  const table = s[1]!.read(slotTable);
  for (let i = 0; ; i++) if (table[slotOf(`k${i}`)] === owner) return `k${i}`;
}

async function begin(s: Shards, from: string, to: string, slots: SlotSet): Promise<MoveSpec> {
  const r = await s[1]!.write((txn) => apply(txn, cluster('MOVEBEGIN', from, to, slots.toBase64())));
  if (r.type !== 'bulk') throw new Error(JSON.stringify(r));
  const m = JSON.parse(r.value.toString()) as { epoch: number; from: string; to: string; slots: string; state: MoveSpec['state'] };
  return { ...m, slots: SlotSet.fromBase64(m.slots)! };
}

const intOf = (r: CommandResult): bigint => {
  if (r.type !== 'int') throw new Error(`expected int, got ${JSON.stringify(r)}`);
  return r.value;
};

test('every move step before the first SETSLOTS answers TRYAGAIN and writes nothing', async (t) => {
  const s = await open(t);
  const slots = SlotSet.of([slotOf(bucketOf(s, '2'))]).toBase64();
  const steps = [
    ['FREEZE', '5', slots], ['EXPORT', '5', slots], ['RELEASE', '5', slots], ['UNFREEZE', '5', slots], ['REJECT', '5', slots],
    ['IMPORT', '5', slots, ''], ['EXPORTPAGE', '5', slots, '-'], ['IMPORTSTATUS', '5', slots], ['IMPORTDONE', '5', slots, '0', '0'],
  ];
  for (const step of steps) {
    const r = await s[2]!.write((txn) => apply(txn, cluster(...step)));
    t.is(r.type === 'error' ? r.code : r.type, ErrorCode.TRY_AGAIN, step[0]);
  }
  t.is(s[2]!.read(readOwnership)!.epoch, 0, 'no step raised the ownership epoch');
  t.is(intOf(await push(s, '2')), 1n, 'the push initializes');
  t.is(intOf(await s[2]!.write((txn) => apply(txn, inc(bucketOf(s, '2'))))), 1n);
});

test('source not initialized: the move waits for its push, then moves the slot; the source keeps its other slots', async (t) => {
  const s = await open(t);
  await push(s, '1');
  await push(s, '3');
  const moved = bucketOf(s, '2');
  const kept = (() => {
    const table = s[1]!.read(slotTable);
    for (let i = 0; ; i++) if (table[slotOf(`q${i}`)] === '2' && slotOf(`q${i}`) !== slotOf(moved)) return `q${i}`;
  })();
  const tryAgains: string[] = [];
  const move = await begin(s, '2', '3', SlotSet.of([slotOf(moved)]));
  const outcome = await runMove({ client: client(s, new Set(['2']), tryAgains), addrsOf: () => [], log: () => {} }, move);
  t.is(outcome.result, 'moved');
  t.true(tryAgains.includes('2 FREEZE'), tryAgains.join(', '));
  t.is(intOf(await s[3]!.write((txn) => apply(txn, inc(moved)))), 1n, 'the target serves the moved slot');
  t.is(intOf(await s[2]!.write((txn) => apply(txn, inc(kept)))), 1n, 'the source serves the slots it kept');
  t.true(intOf(await push(s, '2')) > 1n, 'a repeated push answers the epoch in force and changes nothing');
  const after = await s[2]!.write((txn) => apply(txn, inc(moved)));
  t.is(after.type === 'error' ? after.code : after.type, ErrorCode.MOVED, 'the push did not give the moved slot back');
});

test('target not initialized: the import waits for its push; the target then serves its own slots and the moved one', async (t) => {
  const s = await open(t);
  await push(s, '2');
  await push(s, '3');
  const own = bucketOf(s, '1');
  const moved = bucketOf(s, '2');
  t.is(intOf(await s[2]!.write((txn) => apply(txn, inc(moved)))), 1n);
  const tryAgains: string[] = [];
  const move = await begin(s, '2', '1', SlotSet.of([slotOf(moved)]));
  const outcome = await runMove({ client: client(s, new Set(['1']), tryAgains), addrsOf: () => [], log: () => {} }, move);
  t.is(outcome.result, 'moved');
  t.true(tryAgains.some((x) => x.startsWith('1 ')), tryAgains.join(', '));
  t.is(intOf(await s[1]!.write((txn) => apply(txn, inc(own)))), 1n, 'the target serves its initial slots');
  t.is(intOf(await s[1]!.write((txn) => apply(txn, inc(moved)))), 2n, 'and the moved one, continuing its sequence');
});
