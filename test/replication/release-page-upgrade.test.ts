/**
 * CLUSTER RELEASEPAGE during a rolling upgrade (node/replication/peer-features.ts
 * `releasepages`): an older follower could not apply the entry, so a leader proposes it only once
 * every member has said it can; until then it answers FEATUREOFF and the coordinator releases
 * with one RELEASE (node/rebalance/mover.ts). Real processes; the older member is a node of this
 * build that announces the previous build's features (SEQDB_TEST_ANNOUNCE_FEATURES).
 */
import test from 'ava';
import { Cluster, command, sleep } from './helpers/cluster.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';

const OLD = 2;
const PREVIOUS_FEATURES = 'incs,tokenoptions,tokenrules,framesums';
// Any well-formed page: these nodes are not sharded, so an entry that gets through applies as
// CLUSTERDOWN; what the test reads is whether the leader let it through.
const releasePage = ['CLUSTER', 'RELEASEPAGE', '7', SlotSet.of([5]).toBase64(), '-', '16'];

test('a leader refuses RELEASEPAGE (FEATUREOFF) while a member does not announce releasepages, and proposes it once that member is upgraded', async (t) => {
  const older: Record<string, string> = { SEQDB_TEST_ANNOUNCE_FEATURES: PREVIOUS_FEATURES };
  const c = await Cluster.start(t, { size: 3, envOf: (i) => (i === OLD ? older : {}) });
  const leader = await c.leaderOtherThan(OLD, 3);
  const port = c.nodes[leader]!.port;
  t.regex(await command(port, ['INC', 'b', 'warm'], 5000), /^:1/);
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    t.regex(await command(port, releasePage, 2000), /^-FEATUREOFF /);
    await sleep(250);
  }

  c.kill(OLD, 'SIGKILL');
  while (c.nodes[OLD]!.child !== null) await sleep(20);
  c.spawn(OLD);
  let reply = '';
  for (const until = Date.now() + 15_000; Date.now() < until; await sleep(200)) {
    reply = await command(port, releasePage, 5000).catch((err: Error) => `error ${err.message}`);
    if (!reply.startsWith('-FEATUREOFF')) break;
  }
  t.regex(reply, /^-CLUSTERDOWN /, 'proposed and applied once every member announced it');
  const commit = Number((await c.info(leader))!.commit_index);
  for (const n of [0, 1, 2]) await c.waitApplied(n, commit);
});
