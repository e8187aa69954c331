// A discovery session's shutdown closes its mDNS socket within a bound, whatever the socket does
// (shared/discovery/destroy-bounded.ts): a close callback that never comes no longer holds it.
import test from 'ava';
import { destroyBounded } from '../../shared/discovery/destroy-bounded.ts';

test('resolves when the close is reported, at once', async (t) => {
  const started = performance.now();
  await destroyBounded({ destroy: (cb) => setImmediate(() => cb?.()) }, 60_000);
  t.true(performance.now() - started < 1000);
});

test('resolves after waitMs when the close is never reported, and when destroy throws', async (t) => {
  let called = 0;
  const started = performance.now();
  await destroyBounded({ destroy: () => void called++ }, 200);
  const waitedMs = performance.now() - started;
  t.is(called, 1);
  t.true(waitedMs >= 195, `waited ${waitedMs} ms`);
  await destroyBounded({ destroy: () => { throw new Error('socket already closed'); } }, 60_000);
  t.pass();
});
