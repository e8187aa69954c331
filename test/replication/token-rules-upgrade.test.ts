/**
 * Token rules during a rolling upgrade (node/replication/token-options-sync.ts): a shard evicts
 * tokens by rules 1 until every member has said it has `tokenrules`, then its leader proposes
 * CLUSTER TOKENRULES 2 and every replica switches at that entry. Were one replica to evict by
 * other rules than its peers, it would forget other tokens and, leading later, answer a retried
 * token otherwise. The older member is stood in for by a node of this build that does not
 * announce `tokenrules` (it must not lead: incs-upgrade.test.ts). Real processes and ports.
 */
import test from 'ava';
import { Cluster, command, sleep } from './helpers/cluster.ts';

const OLD = 2;
const AHEAD_MS = 50_000;

async function rulesOf(c: Cluster): Promise<string[]> {
  return Promise.all([0, 1, 2].map(async (i) => (await c.info(i))?.token_rules ?? '?'));
}

test('rules 1 while a member lacks rules 2; once it is upgraded every replica switches, and a client 50 s ahead no longer stops plain INCs', async (t) => {
  t.timeout(120_000);
  const older = { SEQDB_TEST_ANNOUNCE_FEATURES: 'incs,tokenoptions' };
  const c = await Cluster.start(t, { size: 3, extraArgs: ['--tokens-max', '50'], envOf: (i) => (i === OLD ? older : {}) });
  let leader = await c.leaderOtherThan(OLD, 3);
  t.regex(await command(c.nodes[leader]!.port, ['INC', 'b', 'warm'], 5000), /^:1/);
  await c.waitFeatures();
  await sleep(3000); // three rounds of the leader's once-a-second check
  t.deepEqual(await rulesOf(c), ['1', '1', '1'], 'not switched while a member does not have the rules');

  // The upgrade: the same node, data dir and id, now announcing every feature of this build.
  c.kill(OLD, 'SIGKILL');
  while (c.nodes[OLD]!.child !== null) await sleep(20);
  c.spawn(OLD);
  const until = Date.now() + 20_000;
  let rules = await rulesOf(c);
  while (Date.now() < until && rules.join() !== '2,2,2') {
    await sleep(200);
    rules = await rulesOf(c);
  }
  t.deepEqual(rules, ['2', '2', '2'], 'every replica applied CLUSTER TOKENRULES 2');

  leader = await c.waitForLeader(3);
  const port = c.nodes[leader]!.port;
  const ahead = Date.now() + AHEAD_MS;
  for (let i = 0; i < 60; i++) t.regex(await command(port, ['INC', 'skewed', 's', 'ID', `${ahead}-skewed${i}`], 5000), /^:\d+/);
  const plain: string[] = [];
  for (let i = 0; i < 20; i++) plain.push((await command(port, ['INC', 'other', 's', 'ID', `${Date.now()}-plain${i}`], 5000)).trim());
  t.deepEqual(plain.filter((r) => !r.startsWith(':')), [], 'plain INCs served');
  t.regex(await command(port, ['INC', 'skewed', 's', 'ID', `${ahead}-skewed7`], 5000), /^:8\r\n/, 'a retry of a kept token gets its number');

  // Every replica evicted alike: the same token count at the same applied index.
  const commit = Number((await c.info(leader))!.commit_index);
  const tokens = await Promise.all([0, 1, 2].map(async (i) => (await c.waitApplied(i, commit)).tokens));
  t.deepEqual(tokens, [tokens[0], tokens[0], tokens[0]]);
  t.is(tokens[0], '80', 'the 60 tokens ahead kept beyond the bound of 50, and the 20 plain ones not evicted for them');
});
