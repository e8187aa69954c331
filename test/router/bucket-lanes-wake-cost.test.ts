// A review: BucketLanes.release wakes each waiter with go(), and each go() does
// waiting.findIndex + splice over the whole waiting array: waking W waiters costs O(W^2) in
// one synchronous run. A hot bucket during a failover (its commands all wait behind the first
// refused one, router deadline 5 s) collects tens of thousands of waiters; the release that ends
// the failover then freezes the router's event loop (every bucket, every client) for seconds.
import test from 'ava';
import { BucketLanes } from '../../router/bucket-lanes.ts';

const now = (): number => performance.now();

for (const waiters of [100_000]) {
  test(`releasing one held command wakes ${waiters} waiters in linear time`, async (t) => {
    const lanes = new BucketLanes();
    const bucket = Buffer.from('hot');
    const first = lanes.arrive();
    lanes.hold(bucket, first);
    const turns: Promise<unknown>[] = [];
    for (let i = 0; i < waiters; i++) turns.push(lanes.turn(bucket, lanes.arrive(), now() + 60_000, now)!);
    const t0 = now();
    lanes.release(bucket, first); // synchronous: the event loop is blocked for all of it
    const blockedMs = now() - t0;
    await Promise.all(turns);
    t.log(`${waiters} waiters: release() blocked the event loop ${blockedMs.toFixed(0)} ms`);
    // A complexity check, not a speed goal: linear work for 100k waiters is tens of ms, quadratic
    // took over 6 s; a bound of 1 s separates them on any box.
    t.true(blockedMs < 1000, `release() took ${blockedMs.toFixed(0)} ms for ${waiters} waiters`);
  });
}
