/**
 * A link that waits on a long dial (earlier dials to the peer timed out) still comes back soon
 * after the network heals (node/replication/peer-link.ts, scoutWhile). The kernel resends a lost
 * SYN 1 s and then 3 s after the first, so without the short scout dials a partition that healed
 * mid-dial stayed down up to 2 s more (a CI run: a follower caught up 1.7 s after healing). Real
 * sockets and nftables in a private loopback namespace.
 */
import test from 'ava';
import { join } from 'node:path';
import { REPO_ROOT, requireNamespaces, runInPrivateLoopback } from '../helpers/netns.ts';
import { haveNft } from '../chaos/net-faults.ts';

/** Drops lifted at points spread over a 2 s and a 4 s dial's wait (3,800: 1,274 ms without scouts). */
const CUTS_MS = [2_800, 3_400, 3_800, 4_400];
/** A scout goes every 500 ms; loopback answers at once. */
const HEAL_TO_ACCEPT_MS_MAX = 900;

test('after the network heals a waiting link reconnects within a scout period, not at the next SYN resend', async (t) => {
  t.timeout(90_000);
  requireNamespaces();
  t.true(haveNft(), 'nftables (/usr/sbin/nft) is needed');
  const r = await runInPrivateLoopback<{ healToAcceptMs: Array<number | null> }>(
    join(REPO_ROOT, 'test', 'replication', 'helpers', 'dial-scout-scenario.ts'), [CUTS_MS.join(',')], { timeoutMs: 80_000 });
  t.log(`heal to accept (ms): ${r.healToAcceptMs.join(' ')}`);
  t.is(r.healToAcceptMs.length, CUTS_MS.length);
  for (const [k, ms] of r.healToAcceptMs.entries()) {
    t.true(ms !== null && ms <= HEAL_TO_ACCEPT_MS_MAX, `cut ${CUTS_MS[k]} ms: connected ${ms} ms after healing (want <= ${HEAL_TO_ACCEPT_MS_MAX})`);
  }
});
