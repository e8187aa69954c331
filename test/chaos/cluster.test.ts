/**
 * ChaosCluster against real `seqdb node` processes, each in its own namespace on a bridge the
 * test creates, driven from a fifth namespace (scenario-cluster.ts). Fails, never skips, where
 * namespaces are unavailable; nft faults need the nft binary.
 */
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBridgedNetwork, killGroup, REPO_ROOT, requireNamespaces, scenarioResult } from '../helpers/netns.ts';

test.before(() => {
  requireNamespaces();
});

test('kill -9, restart, SIGSTOP/SIGCONT, partitions, loss, slow and downed links, transfer, remove and re-add', async (t) => {
  t.timeout(110_000);
  const runDir = await mkdtemp(join(tmpdir(), 'seqdb-chaos-cluster-'));
  const net = createBridgedNetwork(4);
  const child = net.spawn(3, join(REPO_ROOT, 'test', 'chaos', 'scenario-cluster.ts'), [JSON.stringify(net.nodes.slice(0, 3)), runDir]);
  t.teardown(async () => {
    killGroup(child);
    net.destroy();
    await rm(runDir, { recursive: true, force: true });
  });
  const r = await scenarioResult<Record<string, unknown>>(child, 100_000);
  const { logTails, ...shown } = r;
  t.log(JSON.stringify(shown));
  if (logTails !== undefined) t.log(String(logTails));
  // Numbers keep coming, in order, through every failover.
  t.deepEqual(r.values, ['1', '2', '3', '4', '5']);
  t.true(r.killedPidGone);
  t.true(r.leaderAfterKill);
  t.is(r.restartedRole, 'follower');
  t.is(r.pausedState, 'T', 'SIGSTOP stopped the node process itself');
  t.true(r.leaderAfterPause);
  t.is(r.resumedRole, 'follower');
  t.true(r.nftRules);
  t.true(r.leaderAfterIsolation);
  t.true(r.isolatedStillAnswers, 'partitions are between nodes; clients still reach every node');
  t.false(r.rulesAfterHeal);
  t.true(r.lossRule);
  t.true(r.tbf);
  t.is(r.linkDownInfo, null);
  t.true(r.linkUpInfo);
  t.true(r.inSyncBeforeTransfer);
  t.is(r.transferReply, 'OK');
  t.true(r.leaderAfterTransfer);
  t.is(r.removeReply, 'OK');
  t.is(r.votersAfterRemove, 2);
  t.true(r.rejoined);
});
