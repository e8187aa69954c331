/**
 * Real 3-node shards whose nodes run with different --tokens-max (a rolling change of the flag,
 * one node restarted at a time; or all restarted with a new value while one rebuilds its state
 * from the log after an OS crash). Every replica must apply the same token options at the same
 * log index: same tokens on every node, and no number handed out twice however leadership moves.
 * (A review found both: a node with its own flag forgot other tokens than its peers and, leading,
 * gave a retried token a second number, which a later leader handed out again.)
 */
import test from 'ava';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, command, sleep } from './helpers/cluster.ts';

async function until(what: string, ms: number, f: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100)) if (await f().catch(() => false)) return;
  throw new Error(`timed out: ${what}`);
}

async function restart(c: Cluster, i: number, args: readonly string[]): Promise<void> {
  const child = c.nodes[i]!.child!;
  c.kill(i, 'SIGTERM');
  await once(child, 'exit');
  c.spawn(i, args);
}

async function leadOn(c: Cluster, i: number): Promise<void> {
  const id = (await c.info(i))!.node_id!;
  await until(`node ${i} leads`, 20_000, async () => {
    if ((await c.info(i))?.role === 'leader') return true;
    const lead = await c.waitForLeader(3, 5000);
    await command(c.nodes[lead]!.port, ['SEQDB.TRANSFER', id], 6000).catch(() => '');
    return (await c.info(i))?.role === 'leader';
  });
}

async function allApplied(c: Cluster, from: number): Promise<Record<string, string>[]> {
  const applied = Number((await c.info(from))!.applied_index);
  return Promise.all([0, 1, 2].map((i) => c.waitApplied(i, applied)));
}

test('a node restarted with another --tokens-max: the shard applies one set of options, switched at one index', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  const [odd, third] = [0, 1, 2].filter((i) => i !== leader) as [number, number];
  await restart(c, odd, ['--tokens-max', '3']);
  await until('the restarted node follows', 30_000, async () => (await c.info(odd, 500))?.role === 'follower');
  const L = c.nodes[leader]!.port;
  const numbers: bigint[] = [];
  const inc = async (node: number, ...args: string[]): Promise<string> => {
    const reply = (await command(c.nodes[node]!.port, ['INC', 'b', 's', ...args], 5000)).trim();
    t.regex(reply, /^:\d+$/);
    return reply;
  };
  for (let i = 1; i <= 4; i++) {
    t.is(await inc(leader, 'ID', `tok${i}`), `:${i}`);
    numbers.push(BigInt(i));
  }
  // Only a leader proposes them: a client's values are refused, nothing evicted.
  t.regex(await command(L, ['CLUSTER', 'TOKENOPTIONS', '1', '1'], 5000), /^-ERR .*not taken from clients/);
  let infos = await allApplied(c, leader);
  t.deepEqual(infos.map((i) => i.tokens), ['4', '4', '4'], 'the odd node applies the founder\'s options, not its flag');
  t.deepEqual(infos.map((i) => i.tokens_max), ['1000000', '1000000', '1000000']);

  // Leading, the odd node makes its flag the shard's: every replica switches at that entry.
  await leadOn(c, odd);
  await until('the shard takes the leader\'s options', 10_000, async () => (await c.info(odd))?.tokens_max === '3');
  t.regex(c.nodes[odd]!.output, /token options of the shard set to this node's/);
  const retry = await inc(odd, 'ID', 'tok1'); // kept (the bound applies when a token is added)
  t.is(retry, ':1');
  numbers.push(BigInt((await inc(odd, 'ID', 'tok5')).slice(1)));
  numbers.push(BigInt((await inc(odd, 'ID', 'tok1')).slice(1))); // evicted by tok5: a new number
  infos = await allApplied(c, odd);
  t.deepEqual(infos.map((i) => i.tokens), ['3', '3', '3']);
  t.deepEqual(infos.map((i) => i.tokens_max), ['3', '3', '3']);

  // On to a node whose flag is the default: the shard switches back, and nothing repeats.
  await leadOn(c, third);
  await until('the shard takes the new leader\'s options', 10_000, async () => (await c.info(third))?.tokens_max === '1000000');
  numbers.push(BigInt((await inc(third)).slice(1)));
  t.deepEqual(numbers, [1n, 2n, 3n, 4n, 5n, 6n, 7n], 'every number once, none skipped');
  infos = await allApplied(c, third);
  t.is(new Set(infos.map((i) => i.tokens)).size, 1, 'every replica holds the same tokens');
});

test('every node restarted with a new --tokens-max, one rebuilding its state from the log: replicas stay alike', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  for (let i = 1; i <= 4; i++) t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's', 'ID', `tok${i}`], 5000)).trim(), `:${i}`);
  await allApplied(c, leader);
  for (const i of [0, 1, 2]) {
    const child = c.nodes[i]!.child!;
    c.kill(i, 'SIGTERM');
    await once(child, 'exit');
  }
  // The host of node x rebooted: its unsynced state is rebuilt from the snapshot and log.
  const x = (leader + 1) % 3;
  writeFileSync(join(c.nodes[x]!.dataDir, 'lmdb', 'written-by-boot'), 'an-earlier-boot');
  for (const i of [0, 1, 2]) c.spawn(i, ['--tokens-max', '3']);
  const lead = await c.waitForLeader(3);
  const infos = await allApplied(c, lead);
  t.regex(c.nodes[x]!.output, /rebuilding it from the Raft snapshot and log/);
  t.deepEqual(infos.map((i) => i.tokens), ['4', '4', '4'], 'the log applied with the options of its time, everywhere');
  // tok1 answers :1 wherever the leadership is.
  for (const target of [x, (x + 1) % 3]) {
    await leadOn(c, target);
    t.is((await command(c.nodes[target]!.port, ['INC', 'b', 's', 'ID', 'tok1'], 5000)).trim(), ':1', `retry on node ${target}`);
  }
});

test('a leader sets the shard\'s options only while every member answers that it can apply the entry: one that is down may come back on an older build (a review)', async (t) => {
  t.timeout(120_000);
  const c = await Cluster.start(t, { size: 3 });
  const first = await c.waitForLeader(3);
  const [down, other] = [0, 1, 2].filter((i) => i !== first) as [number, number];
  await until('options stored', 10_000, async () => (await c.info(first))?.tokens_max === '1000000');
  // `other` restarts with another flag, then `down` stops, then `other` leads.
  await restart(c, other, ['--tokens-max', '7']);
  await until('the restarted node follows', 30_000, async () => (await c.info(other, 500))?.role === 'follower');
  await sleep(2500); // `other` has asked every member for its features (every second): all said yes
  const child = c.nodes[down]!.child!;
  c.kill(down, 'SIGTERM');
  await once(child, 'exit');
  await leadOn2(c, other, [first, other]);
  await sleep(3000);
  t.is((await c.info(other))?.tokens_max, '1000000', 'not set while a member is down');
  c.spawn(down);
  await until('set once every member answers', 20_000, async () => (await c.info(other))?.tokens_max === '7');
  const infos = await allApplied(c, other);
  t.deepEqual(infos.map((i) => i.tokens_max), ['7', '7', '7']);
});

/** leadOn among the live nodes only (a 3-node shard with one down). */
async function leadOn2(c: Cluster, i: number, live: readonly number[]): Promise<void> {
  const id = (await c.info(i))!.node_id!;
  await until(`node ${i} leads`, 20_000, async () => {
    if ((await c.info(i))?.role === 'leader') return true;
    const lead = await c.waitForLeader(3, 5000, [...live]);
    await command(c.nodes[lead]!.port, ['SEQDB.TRANSFER', id], 6000).catch(() => '');
    return (await c.info(i))?.role === 'leader';
  });
}
