/**
 * shared/with-timeout.ts: the bound on a wait that may end sooner. A router waits like this for
 * every command held behind another command of its bucket (router/bucket-lanes.ts) or behind a
 * catalog refresh; the timer must go when the wait ends, not run out the command's deadline.
 * (Unref'd timers are not in process.getActiveResourcesInfo(): the globals are wrapped instead.)
 */
import test from 'ava';
import { withTimeout } from '../../shared/with-timeout.ts';

test.serial('settles with the promise and leaves no timer behind; null when it does not settle in time; a rejection passes through', async (t) => {
  const live = new Set<unknown>();
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    const timer = realSet(() => {
      live.delete(timer);
      fn();
    }, ms);
    live.add(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((timer: NodeJS.Timeout) => {
    live.delete(timer);
    realClear(timer);
  }) as typeof clearTimeout;
  try {
    const waits = Array.from({ length: 100 }, (_, i) => withTimeout(Promise.resolve(i), 60_000));
    t.deepEqual(await Promise.all(waits), Array.from({ length: 100 }, (_, i) => i));
    t.is(live.size, 0, 'no timer of a settled wait is left running');
    t.is(await withTimeout(new Promise<number>((resolve) => realSet(() => resolve(1), 200)), 20), null);
    await t.throwsAsync(withTimeout(Promise.reject(new Error('refresh failed')), 60_000), { message: 'refresh failed' });
    t.is(live.size, 0);
  } finally {
    globalThis.setTimeout = realSet;
    globalThis.clearTimeout = realClear;
  }
});
