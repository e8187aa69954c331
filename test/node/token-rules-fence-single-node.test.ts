/**
 * A review of token rules 2, end to end on a single node (rules 2 at once), real clocks: a client
 * 3 s fast (well under the 60 s accepted) and a router-like client whose timed tokens are minted
 * from a correct clock right before sending. Once the fast client's tokens came due, each eviction
 * lifted the fence to the clock, and the correct client's NEW tokens were refused TOKEN_EXPIRED
 * (343 of 3,222): what rules 2 were meant to end. Tokens are now kept until 10 s behind the clock.
 */
import test from 'ava';
import { startTestNode } from '../helpers/single-node.ts';
import { RespClient } from '../helpers/resp-client.ts';

test('a single node: a client 3 s fast does not make a correct clock\'s new ID tokens fail TOKEN_EXPIRED', async (t) => {
  t.timeout(60_000);
  const node = await startTestNode(t, { stateMachine: { tokensMax: 20 } });
  const fast = await RespClient.connect(node.address.port);
  const correct = await RespClient.connect(node.address.port);
  t.teardown(() => { fast.close(); correct.close(); });
  t.regex(await fast.call('INFO'), /token_rules:2/);
  const startMs = Date.now();
  let sent = 0;
  let expired = 0;
  let sample = '';
  for (let i = 0; Date.now() - startMs < 12_000; i++) {
    // 3 of every 4 writes are the fast client's.
    for (let k = 0; k < 3; k++) await fast.call('INC', 'skewed', 's', 'ID', `${Date.now() + 3000}-fast${i}-${k}`);
    const reply = (await correct.call('INC', 'orders', 'n', 'ID', `${Date.now()}-router${i}`)).trim();
    if (Date.now() - startMs < 3500) continue;
    sent++;
    if (/expired/i.test(reply)) {
      expired++;
      sample ||= reply;
    }
  }
  t.log(`${expired} of ${sent} new correct-clock tokens refused after the fast client's first tokens came due; e.g. ${sample}`);
  t.is(expired, 0);
});
