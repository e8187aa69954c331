/**
 * Scenario for cluster.test.ts, run inside the clients' namespace: drives a 3-node shard of real
 * `seqdb node` processes through each fault ChaosCluster offers and prints what it observed.
 *   node --import=tsx test/chaos/scenario-cluster.ts <namespaces.json> <runDir>
 */
import { execFileSync } from 'node:child_process';
import { assertIsolatedNamespace, type NetnsNode, printResult } from '../helpers/netns.ts';
import { ChaosCluster, NODE_PORT, sleep } from './cluster.ts';
import { nftPath } from './net-faults.ts';
import { RespConn } from './resp-conn.ts';

assertIsolatedNamespace(['veth0']);
const namespaces = JSON.parse(process.argv[2]!) as NetnsNode[];
const cluster = new ChaosCluster({ namespaces, shards: 1, runDir: process.argv[3]!, log: (l) => console.error(l) });
const out: Record<string, unknown> = {};

/** INC through whichever node leads now (following NOTLEADER), for at most 10 s. */
async function inc(): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const l = await cluster.leader('s0');
    if (l !== null) {
      const c = new RespConn(l.address, NODE_PORT);
      const r = await c.call(['INC', 'b', 's', 'ID', `t${out.incs = Number(out.incs ?? 0) + 1}`], 2_000);
      c.close();
      if (r.kind === 'reply' && r.reply.kind === 'integer') return r.reply.value.toString();
    }
    await sleep(100);
  }
  return 'no answer';
}

async function newLeaderOtherThan(old: number): Promise<number | null> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const l = await cluster.leader('s0');
    if (l !== null && l.index !== old) return l.index;
    await sleep(100);
  }
  return null;
}

const nsExec = (ns: string, ...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });

try {
  await cluster.startAll(30_000);
  const first = (await cluster.leader('s0'))!.index;
  out.values = [await inc()];

  // kill -9 the leader: another takes over, numbers continue; the restarted node rejoins.
  const killedPid = cluster.nodes[first]!.child!.pid;
  cluster.kill(first);
  out.killedPidGone = await waitGone(killedPid!);
  const second = await newLeaderOtherThan(first);
  out.leaderAfterKill = second !== null && second !== first;
  (out.values as string[]).push(await inc());
  cluster.restart(first);
  out.restartedRole = await roleOf(first, ['follower']);

  // SIGSTOP the leader past the election timeout: replaced; SIGCONT: it steps down.
  cluster.pause(second!);
  out.pausedState = nsExec(cluster.nodes[second!]!.ns, 'cat', `/proc/${cluster.nodes[second!]!.child!.pid}/stat`).split(' ')[2];
  const third = await newLeaderOtherThan(second!);
  out.leaderAfterPause = third !== null && third !== second;
  (out.values as string[]).push(await inc());
  cluster.resume(second!);
  out.resumedRole = await roleOf(second!, ['follower']);

  // Isolate the leader by nftables: the majority elects another; clients still reach the old one.
  cluster.partition([[third!], cluster.nodes.map((n) => n.index).filter((i) => i !== third)]);
  out.nftRules = nsExec(cluster.nodes[third!]!.ns, nftPath(), 'list', 'table', 'inet', 'chaos').includes('drop');
  const fourth = await newLeaderOtherThan(third!);
  out.leaderAfterIsolation = fourth !== null && fourth !== third;
  out.isolatedStillAnswers = (await cluster.info(third!, 1_000)) !== null;
  (out.values as string[]).push(await inc());
  cluster.partition([cluster.nodes.map((n) => n.index)]);
  out.rulesAfterHeal = nsExec(cluster.nodes[third!]!.ns, nftPath(), 'list', 'ruleset').includes('chaos');

  // Loss, a slow link, a link down: each applied and undone.
  cluster.setLoss(0, 30);
  out.lossRule = nsExec(cluster.nodes[0]!.ns, nftPath(), 'list', 'table', 'inet', 'chaos').includes('numgen random mod 100 < 30');
  cluster.setLoss(0, 0);
  cluster.throttle(1, 256);
  out.tbf = nsExec(cluster.nodes[1]!.ns, 'tc', 'qdisc', 'show', 'dev', 'veth0').includes('tbf');
  cluster.throttle(1, null);
  cluster.setLink(2, false);
  out.linkDownInfo = await cluster.info(2, 500);
  cluster.setLink(2, true);
  out.linkUpInfo = (await cluster.info(2, 2_000)) !== null;

  // Leader transfer, then remove a follower and add it back with a fresh identity.
  // Only once every link is back and each follower has caught up: a transfer is best effort
  // (Raft aborts it when TimeoutNow or a vote is lost, and links just brought up may still drop
  // sends for one backoff), so a loaded machine may also need another try.
  out.inSyncBeforeTransfer = await waitFor(inSync);
  let target = -1;
  out.transferAttempts = 0;
  for (let attempt = 1; attempt <= 3 && out.leaderAfterTransfer !== true; attempt++) {
    const leader = (await cluster.waitForLeader('s0', 10_000))!.index;
    target = (leader + 1) % 3;
    out.transferAttempts = attempt;
    out.transferReply = await cluster.transferLeader('s0', target);
    out.leaderAfterTransfer = out.transferReply === 'OK' && await waitFor(async () => (await cluster.leader('s0'))?.index === target, 5_000);
  }
  if (out.leaderAfterTransfer !== true) out.logTails = cluster.logTails();
  const victim = (target + 1) % 3;
  const oldId = cluster.nodes[victim]!.nodeId;
  out.removeReply = await cluster.removeNode(victim);
  out.votersAfterRemove = await cluster.voters('s0');
  cluster.addBack(victim);
  out.rejoined = await waitFor(async () => (await cluster.voters('s0')) === 3 && (await cluster.info(victim))?.node_id !== oldId);
  (out.values as string[]).push(await inc());
  printResult(out);
} catch (err) {
  console.error((err as Error).stack);
  console.error(cluster.logTails());
  process.exitCode = 1;
} finally {
  await cluster.shutdown();
}

/** The leader's member list shows every voter matching the same, newest index. */
async function inSync(): Promise<boolean> {
  const l = await cluster.leader('s0');
  const members = l === null ? '' : (await cluster.info(l.index))?.members ?? '';
  const matches = members.split(',').filter((m) => m.includes('/voter/')).map((m) => m.split('/').at(-1));
  return matches.length === 3 && matches.every((m) => m !== '-' && m === matches[0]);
}

async function roleOf(i: number, want: string[]): Promise<string> {
  let role = 'none';
  await waitFor(async () => want.includes(role = (await cluster.info(i))?.role ?? 'none'));
  return role;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(150);
  }
  return false;
}

async function waitGone(pid: number): Promise<boolean> {
  return waitFor(async () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 5_000);
}
