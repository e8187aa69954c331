/**
 * Plays a Schedule against a ChaosCluster in real time and records what it actually did (which
 * node was the leader when a "kill-leader" fired, whether a removal was refused, ...).
 */
import type { ChaosCluster } from './cluster.ts';
import type { Rebalancer } from './rebalancer.ts';
import type { ChaosRouters } from './routers.ts';
import type { FaultEvent, Schedule } from './schedule.ts';

export interface AppliedFault {
  readonly id: number;
  readonly kind: FaultEvent['kind'];
  readonly shard: string;
  /** Global node indexes hit (router indexes for router faults). */
  readonly targets: readonly number[];
  /** Milliseconds since the run started. */
  readonly startMs: number;
  endMs: number;
  note: string;
}

export interface NemesisOptions {
  /** performance.now() at the run's start: event times are relative to it. */
  readonly t0: number;
  readonly log: (line: string) => void;
  /** The routers, when the run has some (router faults need them). */
  readonly routers?: ChaosRouters;
  /** Runs `seqdb rebalance` (rebalance faults need it). */
  readonly rebalancer?: Rebalancer;
  /** The clients' own address on the bridge (partition-clients cuts it off). */
  readonly clientsAddress?: string;
}

export async function runNemesis(cluster: ChaosCluster, schedule: Schedule, o: NemesisOptions): Promise<AppliedFault[]> {
  const applied: AppliedFault[] = [];
  for (const e of schedule.events) {
    await sleepUntil(o.t0 + e.startMs);
    const shard = cluster.shardIds[e.shard]!;
    const members = cluster.shardNodes(shard).map((n) => n.index);
    const at = (pos: number): number => members[pos]!;
    let record: AppliedFault;
    try {
      const started = e.kind === 'rebalance' ? startRebalance(o.rebalancer)
        : e.kind === 'partition-clients' ? cutOffClients(cluster, e, at, o)
        : await start(cluster, e, shard, at, o.routers);
      record = { id: e.id, kind: e.kind, shard, targets: started.targets, startMs: now(o.t0), endMs: 0, note: started.note };
    } catch (err) {
      record = { id: e.id, kind: e.kind, shard, targets: [], startMs: now(o.t0), endMs: 0, note: `failed to apply: ${(err as Error).message}` };
    }
    o.log(`fault #${e.id} ${e.kind} on ${shard} nodes [${record.targets.join(',')}] ${record.note}`);
    applied.push(record);
    await sleepUntil(o.t0 + e.endMs);
    try {
      if (e.kind === 'rebalance') record.note += await endRebalance(o.rebalancer);
      else if (e.kind === 'partition-clients') cutOffClients(cluster, e, at, o, record.targets);
      else await end(cluster, e, record.targets, members, o.routers);
    } catch (err) {
      record.note += ` (undo failed: ${(err as Error).message})`;
    }
    record.endMs = now(o.t0);
  }
  return applied;
}

function startRebalance(rebalancer: Rebalancer | undefined): { targets: number[]; note: string } {
  if (rebalancer === undefined) return { targets: [], note: 'skipped: no rebalancer' };
  if (rebalancer.running) return { targets: [], note: 'already running' };
  rebalancer.start();
  return { targets: [], note: `rebalance run ${rebalancer.runs} started` };
}

/** A rebalance still moving slots when its window ends is killed -9 mid-move. */
async function endRebalance(rebalancer: Rebalancer | undefined): Promise<string> {
  if (rebalancer === undefined) return '';
  if (rebalancer.running) {
    rebalancer.interrupt();
    await rebalancer.wait(5_000);
    return `; interrupted (SIGKILL): ${rebalancer.tail(1)}`;
  }
  return `; finished (exit ${String(await rebalancer.wait(0))}): ${rebalancer.tail(1)}`;
}

/**
 * The clients lose one router (in runs with routers) or one node: nft drops in its namespace of
 * everything from and to the clients' address, so requests and replies in flight are lost, its
 * connections hang until the clients' timeouts, and the clients retry elsewhere (tokens). With
 * `healing` (the targets it cut) it undoes that.
 */
function cutOffClients(cluster: ChaosCluster, e: FaultEvent, at: (pos: number) => number, o: NemesisOptions, healing?: readonly number[]): { targets: number[]; note: string } {
  const addr = o.clientsAddress;
  if (addr === undefined) return { targets: [], note: 'skipped: clients address unknown' };
  const cut = healing === undefined ? [addr] : [];
  if (o.routers !== undefined) {
    const r = healing?.[0] ?? e.nodes[0]!;
    o.routers.cutOff(r, cut);
    return { targets: [r], note: `clients cut off from router ${r}` };
  }
  const i = healing?.[0] ?? at(e.nodes[0]!);
  cluster.cutOffFrom(i, cut);
  return { targets: [i], note: `clients cut off from node ${i}` };
}

async function start(
  cluster: ChaosCluster,
  e: FaultEvent,
  shard: string,
  at: (pos: number) => number,
  routers: ChaosRouters | undefined,
): Promise<{ targets: number[]; note: string }> {
  if (e.kind === 'partition-router') {
    if (routers === undefined) return { targets: [], note: 'skipped: no routers' };
    // The router from the shard's leader: it sees NOTLEADER hints it cannot follow, attempts time
    // out with their outcome unknown, and its clients must retry their tokens elsewhere.
    const r = e.nodes[0]!;
    const l = await cluster.leader(shard);
    const cut = l !== null ? [l] : cluster.shardNodes(shard).slice(0, Math.ceil(cluster.shardNodes(shard).length / 2));
    routers.cutOff(r, cut.map((n) => n.address));
    return { targets: [r], note: `router ${r} cut off from ${l !== null ? 'leader ' : ''}[${cut.map((n) => n.index).join(',')}]` };
  }
  if (e.kind === 'kill-router' || e.kind === 'pause-router') {
    if (routers === undefined) return { targets: [], note: 'skipped: no routers' };
    const r = e.nodes[0]!;
    if (e.kind === 'kill-router') routers.kill(r);
    else routers.pause(r);
    return { targets: [r], note: `router ${r}` };
  }
  const leaderOr = async (): Promise<{ index: number; note: string }> => {
    const l = await cluster.leader(shard);
    return l !== null ? { index: l.index, note: 'leader' } : { index: at(e.nodes[0]!), note: 'no leader found; seeded fallback' };
  };
  const nodes = e.nodes.map(at);
  switch (e.kind) {
    case 'rebalance':
      return { targets: [], note: 'handled by startRebalance' };
    case 'partition-clients':
      return { targets: [], note: 'handled by cutOffClients' };
    case 'kill':
      cluster.kill(nodes[0]!);
      return { targets: [nodes[0]!], note: '' };
    case 'kill-majority':
      for (const i of nodes) cluster.kill(i);
      return { targets: nodes, note: '' };
    case 'kill-leader': {
      const l = await leaderOr();
      cluster.kill(l.index);
      return { targets: [l.index], note: l.note };
    }
    case 'pause':
      cluster.pause(nodes[0]!);
      return { targets: [nodes[0]!], note: '' };
    case 'pause-leader': {
      const l = await leaderOr();
      cluster.pause(l.index);
      return { targets: [l.index], note: l.note };
    }
    case 'partition-half': {
      const rest = cluster.shardNodes(shard).map((n) => n.index).filter((i) => !nodes.includes(i));
      cluster.partition([nodes, rest]);
      return { targets: nodes, note: `minority [${nodes.join(',')}] | majority [${rest.join(',')}]` };
    }
    case 'isolate-leader': {
      const l = await leaderOr();
      const rest = cluster.shardNodes(shard).map((n) => n.index).filter((i) => i !== l.index);
      cluster.partition([[l.index], rest]);
      return { targets: [l.index], note: l.note };
    }
    case 'bridge': {
      const half = Math.floor((nodes.length - 1) / 2);
      const left = nodes.slice(0, half || 1);
      const middle = nodes[left.length]!;
      const right = nodes.slice(left.length + 1);
      cluster.bridge(left, middle, right);
      return { targets: nodes, note: `[${left.join(',')}] <-> ${middle} <-> [${right.join(',')}]` };
    }
    case 'loss':
      for (const i of nodes) cluster.setLoss(i, e.lossPercent ?? 10);
      return { targets: nodes, note: `${e.lossPercent ?? 10}% loss` };
    case 'slow':
      cluster.throttle(nodes[0]!, e.rateKbit ?? 256);
      return { targets: [nodes[0]!], note: `${e.rateKbit ?? 256} kbit/s` };
    case 'link-down':
      cluster.setLink(nodes[0]!, false);
      return { targets: [nodes[0]!], note: '' };
    case 'clock':
      cluster.setClock(nodes[0]!, e.clockOffsetMs ?? 0);
      return { targets: [nodes[0]!], note: `wall clock ${e.clockOffsetMs ?? 0} ms off` };
    case 'disk-fail':
      cluster.failDisk(nodes[0]!, true);
      return { targets: [nodes[0]!], note: 'its writes and syncs fail with EIO' };
    case 'disk-stall':
      cluster.failDisk(nodes[0]!, true, 'stall');
      return { targets: [nodes[0]!], note: 'its writes and syncs block' };
    case 'disk-full':
      await cluster.fillDisk(nodes[0]!, true, e.leaveBytes ?? 0);
      return { targets: [nodes[0]!], note: `its disk filled, ${(e.leaveBytes ?? 0) >> 20} MiB left` };
    case 'wire-flip':
      cluster.flipWire(nodes[0]!, true);
      return { targets: [nodes[0]!], note: 'one in 20 of its writes to other nodes has a bit flipped past TCP\'s checksum' };
    case 'disk-tear':
      cluster.failDisk(nodes[0]!, true, 'tear');
      return { targets: [nodes[0]!], note: 'its next write of whole sectors is torn part-way and it dies inside it (a power cut)' };
    case 'transfer-leader': {
      const l = await cluster.leader(shard);
      if (l === null) return { targets: [], note: 'skipped: no leader' };
      const to = nodes.find((i) => i !== l.index && cluster.nodes[i]!.state === 'running');
      if (to === undefined) return { targets: [], note: 'skipped: no other running node' };
      return { targets: [l.index, to], note: `${l.index} -> ${to}: ${await cluster.transferLeader(shard, to)}` };
    }
    case 'member-cycle': {
      const reply = await cluster.removeNode(nodes[0]!);
      const removed = cluster.nodes[nodes[0]!]!.state === 'removed';
      return { targets: removed ? [nodes[0]!] : [], note: removed ? 'removed' : `removal refused: ${reply}` };
    }
  }
}

async function end(
  cluster: ChaosCluster,
  e: FaultEvent,
  targets: readonly number[],
  members: readonly number[],
  routers: ChaosRouters | undefined,
): Promise<void> {
  switch (e.kind) {
    case 'rebalance':
      return;
    case 'kill-router':
      for (const r of targets) routers?.restart(r);
      return;
    case 'pause-router':
      for (const r of targets) routers?.resume(r);
      return;
    case 'partition-router':
      for (const r of targets) routers?.cutOff(r, []);
      return;
    case 'partition-clients': // cutOffClients
      return;
    case 'kill':
    case 'kill-leader':
    case 'kill-majority':
      for (const i of targets) cluster.restart(i);
      return;
    case 'pause':
    case 'pause-leader':
      for (const i of targets) cluster.resume(i);
      return;
    case 'partition-half':
    case 'isolate-leader':
    case 'bridge':
      cluster.partition([members]); // one group: nobody blocked
      return;
    case 'loss':
      for (const i of targets) cluster.setLoss(i, 0);
      return;
    case 'slow':
      for (const i of targets) cluster.throttle(i, null);
      return;
    case 'link-down':
      for (const i of targets) cluster.setLink(i, true);
      return;
    case 'clock':
      for (const i of targets) cluster.setClock(i, 0);
      return;
    case 'disk-fail':
    case 'disk-stall':
    case 'disk-tear':
      // Healed; a node that stopped on the failing disk starts again from what reached it (a
      // stalled one goes on with its held writes: restart leaves a running node alone).
      for (const i of targets) {
        cluster.failDisk(i, false);
        cluster.restart(i);
      }
      return;
    case 'disk-full':
      // Space again: a node that refused writes goes on by itself; one whose write failed stopped.
      // (A fill that failed half-way recorded no target; the final healAll removes its file.)
      for (const i of targets) {
        await cluster.fillDisk(i, false);
        cluster.restart(i);
      }
      return;
    case 'member-cycle':
      for (const i of targets) cluster.addBack(i);
      return;
    case 'wire-flip':
      for (const i of targets) cluster.flipWire(i, false);
      return;
    case 'transfer-leader':
      return;
  }
}

function now(t0: number): number {
  return performance.now() - t0;
}

function sleepUntil(at: number): Promise<void> {
  const ms = at - performance.now();
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
