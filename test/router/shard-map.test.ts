import test from 'ava';
import { ShardMap } from '../../router/shard-map.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { planSlots } from '../../shared/placement/ring.ts';
import { slotCount } from '../../shared/placement/slot.ts';

function viewOf(owners: readonly string[], ids: readonly string[], epoch: number) {
  return {
    epoch,
    shards: ids.map((id) => ({ id, addrs: [`127.0.0.1:${7000 + Number(id)}`], slots: SlotSet.of([...owners.keys()].filter((s) => owners[s] === id)) })),
  };
}

test('the placed ratio is 1 at rest, drops when a shard joins, and returns to 1 as slots move', (t) => {
  const map = new ShardMap();
  const two = planSlots(['1', '2']);
  map.update(viewOf(two, ['1', '2'], 1));
  t.is(map.placedRatio(), 1);

  map.update(viewOf(two, ['1', '2', '3'], 2)); // shard 3 registered, owns nothing yet
  const three = planSlots(['1', '2', '3']);
  const toMove = three.filter((owner, slot) => owner !== two[slot]).length;
  t.is(map.placedRatio(), (slotCount - toMove) / slotCount);
  t.true(map.placedRatio() < 0.8);

  map.update(viewOf(three, ['1', '2', '3'], 3));
  t.is(map.placedRatio(), 1);
});
