/**
 * A review of token rules 2's first version, end to end on a single node (which uses rules 2 at
 * once), --tokens-max 50: after a client 50 s fast filled the bound, a client's INC with an
 * opaque ID token, retried after a lost reply, was given a second number, and a router-style
 * timed token's retry was refused TOKEN_EXPIRED with its number taken.
 */
import test from 'ava';
import { startTestNode } from '../helpers/single-node.ts';
import { RespClient } from '../helpers/resp-client.ts';

test('a single node: the retry of an ID token just answered gets the same number after a client 50 s ahead filled the bound', async (t) => {
  const node = await startTestNode(t, { stateMachine: { tokensMax: 50 } });
  const c = await RespClient.connect(node.address.port);
  t.teardown(() => c.close());
  const info = await c.call('INFO');
  t.regex(info, /token_rules:2/);
  // The options it applies, as a shard's INFO shows its stored ones (a review: a single node's did not).
  t.regex(info, /tokens_max:50\r\n/);
  t.regex(info, /token_retention_ms:86400000\r\n/);
  const ahead = Date.now() + 50_000;
  for (let i = 0; i < 60; i++) await c.call('INC', 'skewed', 's', 'ID', `${ahead}-skewed${i}`);
  const first = (await c.call('INC', 'orders', 'n', 'ID', 'order-7f3a')).trim();
  const retry = (await c.call('INC', 'orders', 'n', 'ID', 'order-7f3a')).trim();
  const timed = `${Date.now()}-router1`;
  const firstTimed = (await c.call('INC', 'orders', 'm', 'ID', timed)).trim();
  const retryTimed = (await c.call('INC', 'orders', 'm', 'ID', timed)).trim();
  t.log(`opaque: ${first} then ${retry}; timed: ${firstTimed} then ${retryTimed}`);
  t.is(retry, first, 'no second number for one ID token');
  t.is(retryTimed, firstTimed, 'the retry of a taken number gets it');
});
