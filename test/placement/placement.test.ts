import test from 'ava';
import { crc16, parseSlot, slotCount, slotOf } from '../../shared/placement/slot.ts';
import HashRing from 'hashring';
import { planSlots, slotsToMove } from '../../shared/placement/ring.ts';

test('crc16 matches the Redis Cluster reference value', (t) => {
  // Redis Cluster spec: CRC16 of "123456789" is 0x31C3.
  t.is(crc16(Buffer.from('123456789')), 0x31c3);
  t.is(slotOf('foo'), 12182); // CLUSTER KEYSLOT foo
});

test('every sequence of a bucket maps to one slot; binary names are fine', (t) => {
  const s = slotOf(Buffer.from([0, 255, 10]));
  t.true(s >= 0 && s < slotCount);
  t.is(slotOf('invoices'), slotOf(Buffer.from('invoices')));
});

test('parseSlot refuses anything but a slot number', (t) => {
  for (const bad of ['', '-1', '16384', '__proto__', '1e3', '007a', '999999']) t.is(parseSlot(bad), null, bad);
  t.is(parseSlot('0'), 0);
  t.is(parseSlot('16383'), 16383);
});

test('the plan is what the ketama ring of hashring gives every slot (placement is stored: it may not drift)', (t) => {
  const sets = [['1'], ['s9'], ['1', '2'], ['1', '2', '3'], ['a', 'b', 'c', 'd', 'e'], ['shard-x', 'shard-y'], Array.from({ length: 9 }, (_, i) => String(i + 1))];
  for (const ids of sets) {
    const ring = new HashRing([...ids].sort(), 'md5', { 'max cache size': 16 });
    const plan = planSlots(ids);
    let differ = 0;
    for (let slot = 0; slot < slotCount; slot++) if (plan[slot] !== ring.get(`slot:${slot}`)) differ++;
    t.is(differ, 0, ids.join(','));
  }
  // A caller may change its copy without changing the next plan.
  const first = planSlots(['1', '2']);
  first.fill('x');
  t.false(planSlots(['1', '2']).includes('x'));
});

test('the plan depends only on the set of shard IDs, not their order', (t) => {
  t.deepEqual(planSlots(['a', 'b', 'c']), planSlots(['c', 'a', 'b', 'a']));
});

test('the ring spreads slots fairly and adding a shard moves about 1/N of them', (t) => {
  const three = planSlots(['1', '2', '3']);
  const counts = new Map<string, number>();
  for (const s of three) counts.set(s, (counts.get(s) ?? 0) + 1);
  for (const n of counts.values()) t.true(n > slotCount / 3 * 0.7 && n < slotCount / 3 * 1.3, `share ${n}`);
  const four = planSlots(['1', '2', '3', '4']);
  const moved = slotsToMove(three, four);
  t.true(moved.every((slot) => four[slot] === '4'), 'only slots going to the new shard move');
  t.true(moved.length > slotCount / 4 * 0.6 && moved.length < slotCount / 4 * 1.4, `moved ${moved.length}`);
});
