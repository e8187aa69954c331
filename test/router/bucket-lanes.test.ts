// router/bucket-lanes.ts: while a command of a bucket is held (refused, not sent again yet), later
// commands of that bucket wait and then go in arrival order; other buckets never wait; a wait ends
// at its deadline.
import test from 'ava';
import { BucketLanes } from '../../router/bucket-lanes.ts';

const b = Buffer.from('b');
const now = (): number => performance.now();

test('nothing retrying: no wait and no entry', (t) => {
  const lanes = new BucketLanes();
  const seq = lanes.arrive();
  t.is(lanes.turn(b, seq, now() + 1000, now), null);
  lanes.release(b, seq);
  t.is(lanes.size, 0);
});

test('later commands wait for every earlier held one, then go in arrival order; others never wait', async (t) => {
  const lanes = new BucketLanes();
  const [s1, s2, s3, s4] = [lanes.arrive(), lanes.arrive(), lanes.arrive(), lanes.arrive()];
  lanes.hold(b, s1);
  lanes.hold(b, s2);
  t.is(lanes.turn(b, s1, now() + 1000, now), null, 'a held command is not behind itself');
  t.is(lanes.turn(Buffer.from('other'), s4, now() + 1000, now), null, 'another bucket');
  const order: number[] = [];
  const w4 = lanes.turn(b, s4, now() + 1000, now)!.then(() => order.push(s4));
  const w3 = lanes.turn(b, s3, now() + 1000, now)!.then(() => order.push(s3));
  const w2 = lanes.turn(b, s2, now() + 1000, now)!.then(() => order.push(s2));
  lanes.release(b, s1);
  await w2;
  t.deepEqual(order, [s2], 's2 only waited for s1; s3 and s4 still wait for s2');
  lanes.release(b, s2);
  await Promise.all([w3, w4]);
  t.deepEqual(order, [s2, s3, s4]);
  t.is(lanes.size, 0, 'the lane is gone once nothing is held or waits');
});

test('a wait ends at its deadline even if the earlier command is still held', async (t) => {
  const lanes = new BucketLanes();
  const [s1, s2] = [lanes.arrive(), lanes.arrive()];
  lanes.hold(b, s1);
  const started = now();
  await lanes.turn(b, s2, now() + 50, now);
  t.true(now() - started >= 45);
  lanes.release(b, s1);
  t.is(lanes.size, 0);
});
