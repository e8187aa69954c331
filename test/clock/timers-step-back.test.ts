/**
 * Timeouts, deadlines and pauses run on the monotonic clock (shared/mono-clock.ts): a host clock
 * stepped back by NTP while a request waits must not stretch its wait by the step (with Date.now a
 * router's forward to a silent node, and a client's call, waited an hour for an hour's step; a
 * clock review). In-process: Date.now is stepped back an hour while the request is in flight.
 */
import test from 'ava';
import { fakeNode, forwarderFor } from '../router/fake-node.ts';
import { startFake } from '../client/fake-server.ts';
import { createClient } from '../../client/index.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { PeerFeatures } from '../../node/replication/peer-features.ts';

const HOUR_MS = 3_600_000;

function stepBackSoon(t: { teardown(fn: () => void): void }): void {
  const realNow = Date.now;
  t.teardown(() => { Date.now = realNow; });
  setTimeout(() => { Date.now = () => realNow() - HOUR_MS; }, 50);
}

test.serial('a router forwarding to a silent node gives up at its deadline although the clock stepped back', async (t) => {
  const node = await fakeNode(() => 'ignore');
  const { forwarder } = await forwarderFor(t, [node], { attemptTimeoutMs: 300, deadlineMs: 800 });
  stepBackSoon(t);
  const started = performance.now();
  const result = await Promise.race([
    forwarder.execute({ type: 'get', bucket: Buffer.from('b'), sequence: Buffer.from('s') }),
    new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 5_000)),
  ]);
  t.not(result, 'still waiting');
  t.is(result !== 'still waiting' && result.type === 'error' ? result.code : undefined, ErrorCode.CLUSTER_DOWN);
  t.true(performance.now() - started < 3_000);
});

test.serial('a client call to a silent router gives up at its deadline although the clock stepped back', async (t) => {
  const server = await startFake(t);
  server.script = () => ({ hang: true });
  const client = createClient({ routers: [server.address], attemptTimeoutMs: 300, deadlineMs: 800 });
  t.teardown(() => client.close());
  stepBackSoon(t);
  const outcome = await Promise.race([
    client.get('b', 's').then(() => 'answered', () => 'gave up'),
    new Promise<string>((r) => setTimeout(() => r('still waiting'), 5_000)),
  ]);
  t.is(outcome, 'gave up');
});

test.serial('members are asked their features (and clocks) again on time although the clock stepped back', async (t) => {
  const realNow = Date.now;
  let offsetMs = 0;
  Date.now = () => realNow() + offsetMs; // before the construction: a default clock is taken then
  t.teardown(() => { Date.now = realNow; });
  let asked = 0;
  const features = new PeerFeatures({
    selfId: 'a',
    addressOf: () => '127.0.0.1:1',
    probe: async () => {
      asked++;
      return { nodeId: 'b', features: [] };
    },
    retryMs: 50,
  });
  features.allHave('incs', ['a', 'b']);
  await new Promise((r) => setTimeout(r, 10));
  t.is(asked, 1);
  offsetMs = -HOUR_MS;
  await new Promise((r) => setTimeout(r, 150));
  features.allHave('incs', ['a', 'b']);
  t.is(asked, 2, 'asked again once its retry interval passed');
});
