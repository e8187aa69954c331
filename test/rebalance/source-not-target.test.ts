/**
 * Found by a review. Move steps do not name the shard they are meant for, and the source of a move
 * answers the target's steps as if it were a target that already imported: FREEZE M gives its
 * slots epoch M while it owns them, which is exactly importableSlots' test for "imported at M".
 * So IMPORTSTATUS M S on the source answers imported = 1 and IMPORTDONE M S answers :0 (done).
 * A coordinator whose address hints for the target reach a node of the source (a stale or reused
 * address in the catalog, a NOTLEADER hint from the wrong group) commits the move with the target
 * holding nothing, then releases the source: the slot is served by no shard, for good.
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { ErrorCode } from '../../shared/errors.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { slotTable } from '../../node/ownership/catalog.ts';
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { ownershipRefusal } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { runMove, type MoveSpec } from '../../node/rebalance/mover.ts';
import { StepRefused, type ShardClient } from '../../node/rebalance/shard-client.ts';
import type { CommandResult } from '../../node/state-machine/index.ts';
import { apply, cluster, inc, threeShards } from '../helpers/logged-apply.ts';

const brief = (r: CommandResult): string => (r.type === 'error' ? `${r.code} ${r.message}` : r.type === 'int' ? `int ${r.value}` : r.type === 'array' ? `array [${r.value.map((v) => (typeof v === 'bigint' ? String(v) : '..')).join(',')}]` : r.type);

test('the frozen source refuses the target steps of its own move: a misaddressed step cannot commit the move to a target holding nothing', async (t) => {
  const s = threeShards();
  const table = slotTable(s[1]!);
  let b = '';
  for (let i = 0; b === ''; i++) if (table[slotOf(`u${i}`)] === '2') b = `u${i}`;
  for (let k = 0; k < 3; k++) apply(s[2]!, inc(b));
  const slots = SlotSet.of([slotOf(b)]);
  const begun = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', slots.toBase64()));
  if (begun.type !== 'bulk') throw new Error('begin');
  const m = JSON.parse(begun.value.toString()) as { epoch: number; from: string; to: string; slots: string; state: MoveSpec['state'] };

  // The coordinator's target steps (IMPORT*) reach shard 2, the source (say a stale address).
  const client = {
    call: async (shard: string, _a: () => readonly string[], args: readonly string[]): Promise<Reply> => {
      const where = shard === '3' ? '2' : shard;
      const r = apply(s[where]!, parseClusterCommand(args.map((a) => Buffer.from(a, 'latin1'))));
      if (r.type === 'error') throw new StepRefused(shard, r.code === ErrorCode.MOVE_REFUSED ? r.message : `-ERR ${r.message}`);
      if (r.type === 'int') return { kind: 'integer', value: r.value };
      if (r.type === 'bulk') return { kind: 'string', value: r.value };
      if (r.type === 'array') return { kind: 'array', items: r.value.map((v) => (typeof v === 'bigint' ? { kind: 'integer', value: v } : { kind: 'string', value: v as Buffer })) } as Reply;
      return { kind: 'string', value: Buffer.from('OK') };
    },
  } as unknown as ShardClient;

  // The guard alone: after FREEZE, the source's answers to the target's steps.
  const mText = String(m.epoch);
  apply(s[2]!, cluster('FREEZE', mText, slots.toBase64()));
  const status = apply(s[2]!, cluster('IMPORTSTATUS', mText, slots.toBase64()));
  const done = apply(s[2]!, cluster('IMPORTDONE', mText, slots.toBase64(), '0', '0'));

  let outcome = 'threw';
  try {
    outcome = (await runMove({ client, addrsOf: () => [], log: () => {} }, { ...m, slots })).result;
  } catch (err) {
    outcome = `threw ${(err as Error).message}`;
  }
  const servers = ['2', '3'].filter((id) => ownershipRefusal(s[id]!, Buffer.from(b)) === null);
  t.log(`source: IMPORTSTATUS -> ${brief(status)}, IMPORTDONE -> ${brief(done)}; move: ${outcome}; table owner ${slotTable(s[1]!)[slotOf(b)]}; served by [${servers.join(',')}]`);
  t.is(status.type, 'error', `IMPORTSTATUS on the frozen source: ${brief(status)}`);
  t.is(done.type, 'error', `IMPORTDONE on the frozen source: ${brief(done)}`);
  // Whatever the coordinator did, the catalog must never name an owner that holds nothing.
  const owner = slotTable(s[1]!)[slotOf(b)]!;
  t.true(ownershipRefusal(s[owner]!, Buffer.from(b)) === null || owner === '2',
    `after the move (${outcome}) the table names shard ${owner}, which does not own the slot; served by [${servers.join(',')}]`);
});
