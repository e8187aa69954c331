/**
 * One mDNS query packet from anyone on the link must not make a SeqDB process multicast
 * thousands of packets. Runs in a private network namespace (multicast never leaves it).
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';

test.before(() => {
  requireNamespaces();
});

test('one query packet repeating a question gets a bounded number of responses', async (t) => {
  const r = await runInPrivateLoopback<{ questions: number; queryBytes: number; responses: number; responseBytes: number; loPacketsSent: number }>(
    join(REPO_ROOT, 'test', 'discovery', 'scenario-query-amplification.ts'), ['2000'], { timeoutMs: 30_000 });
  t.log(JSON.stringify(r));
  // A responder aggregates its answers (RFC 6762 section 6); a handful of packets at most.
  t.true(r.loPacketsSent <= 5, `one ${r.queryBytes}-byte query made ${r.loPacketsSent - 1} packets go out (${r.responses} responses received, ${r.responseBytes} bytes)`);
});
