// Membership changes that must not cost the shard its numbers or its quorum (real `seqdb node`
// processes on 127.0.0.1; two cases a review found): a fresh node started with
// --bootstrap-expect 1 whose --join peers already form the shard joins it instead of founding a
// second group of the shard; and removing a voter that would leave the remaining voters without
// a live majority is refused (TRYAGAIN) instead of answering +OK and stalling the shard for good.
import test from 'ava';
import { join } from 'node:path';
import { removalRefusal } from '../../node/replication/reconfig-check.ts';
import { Cluster, command, freePort, sleep } from './helpers/cluster.ts';

async function incUntil(port: number, want: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await command(port, ['INC', 'b', 's'], 1000).catch((e: Error) => `(${e.message})`)).trim();
    if (last === want) return last;
    await sleep(200);
  }
  return last;
}

test('a fresh --bootstrap-expect 1 node whose --join peers hold the shard joins it: no second group', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  for (let i = 1; i <= 5; i++) t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's'])).trim(), `:${i}`);
  // A replaced node: an empty data dir, started with the command line that formed the shard.
  const port = await freePort();
  const index = c.nodes.length;
  c.nodes.push({ index, port, addr: `127.0.0.1:${port}`, dataDir: join(c.nodes[0]!.dataDir, '..', `n${index}`), child: null, output: '' });
  c.spawn(index, ['--bootstrap-expect', '1']);
  await c.waitForLeader(4, 30_000);
  const info = (await c.info(index))!;
  t.is(info.role, 'follower', c.nodes[index]!.output);
  t.regex(info.leader ?? '', new RegExp(c.nodes[leader]!.addr.replace(/\./g, '\\.')));
  t.notRegex(c.nodes[index]!.output, /bootstrapping the shard/);
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's'])).trim(), ':6');
});

test('removing a live voter while another is down is refused (TRYAGAIN); removing the down one works and the shard serves on', async (t) => {
  const c = await Cluster.start(t, { size: 3 });
  const leader = await c.waitForLeader(3);
  t.is((await command(c.nodes[leader]!.port, ['INC', 'b', 's'])).trim(), ':1');
  const [down, other] = c.nodes.filter((n) => n.index !== leader).map((n) => n.index) as [number, number];
  const downId = (await c.info(down))!.node_id!;
  const otherId = (await c.info(other))!.node_id!;
  c.kill(down, 'SIGKILL'); // e.g. the damaged node the operator is about to replace
  await sleep(600); // past the liveness window (half an election timeout)
  const refused = (await command(c.nodes[leader]!.port, ['SEQDB.REMOVE', otherId], 5000)).trim();
  t.regex(refused, /^-TRYAGAIN /);
  t.is(await incUntil(c.nodes[leader]!.port, ':2'), ':2', 'the shard still has its quorum');
  t.is((await command(c.nodes[leader]!.port, ['SEQDB.REMOVE', downId], 5000)).trim(), '+OK');
  await c.waitForLeader(2, 10_000, [leader, other]);
  t.is(await incUntil(c.nodes[leader]!.port, ':3'), ':3', 'two voters, both alive');
});

test('removalRefusal counts this node and peers heard from within the window', (t) => {
  const heard = new Map([['b', 1_000], ['c', 9_900], ['d', 9_990]]);
  const live = (nowMs: number) => ({ self: 'a', heardMs: (id: string) => heard.get(id) ?? 0, windowMs: 250, nowMs });
  t.is(removalRefusal(['a', 'b', 'c'], 'c', live(10_000))?.type, 'error', '{a, b}: b is down, no majority of 2');
  t.is(removalRefusal(['a', 'b', 'c'], 'b', live(10_000)), null, '{a, c}: both alive');
  t.is(removalRefusal(['a', 'b', 'c', 'd'], 'd', live(10_000)), null, '{a, b, c}: 2 of 3 alive');
  t.is(removalRefusal(['a', 'b', 'c', 'd'], 'c', live(10_300))?.type, 'error', '{a, b, d}: only a alive at 10,300');
  t.is(removalRefusal(['a', 'b'], 'x', live(10_000)), null, 'not a voter: nothing to check');
  t.is(removalRefusal(['a', 'b'], 'a', live(10_000))?.type, 'error', 'the leader itself, leaving b, which is down');
});
