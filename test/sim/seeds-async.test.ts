/**
 * 150 seeds with leaders that write their log in the background (node/replication/raft-node.ts):
 * commit through the followers' disks, apply ahead of the leader's own write, lose writes in
 * flight on a crash.
 */
import test from 'ava';
import { runSeedRange, seedStart } from './seed-range.ts';

test('async leader writes, 3 and 5 nodes: 150 seeds keep every safety and liveness property', (t) => {
  runSeedRange(t, seedStart() + 500_000, 75, { nodes: 3, asyncLeaderWrites: true });
  runSeedRange(t, seedStart() + 600_000, 75, { nodes: 5, asyncLeaderWrites: true });
});
