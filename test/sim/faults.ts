/**
 * The fault schedule: every few hundred virtual ms the simulator draws one fault from the
 * seeded Rng: a crash (clean or torn mid-Ready) with a later restart, a partition (isolated
 * node or leader, majority/minority split, one-way links, flapping), or a lossy spell
 * (drops, duplicates, long delays that reorder).
 */
import type { NodeId } from '../../node/raft/types.ts';
import { TORN_STAGES } from './sim-node.ts';
import type { Simulation } from './simulator.ts';

export function injectFault(sim: Simulation): void {
  sim.stats.faults++;
  const r = sim.rng.next();
  if (r < 0.25) crashFault(sim);
  else if (r < 0.6) partitionFault(sim);
  else if (r < 0.72) pauseFault(sim);
  else if (r < 0.85) lossyFault(sim);
  else churnFault(sim);
}

/**
 * Leader churn: for a while every new leader crashes (or is cut off) a few ms after winning,
 * before its entries reach everyone. Logs diverge across many terms: the Figure 8 setting.
 */
function churnFault(sim: Simulation): void {
  const ms = sim.rng.range(200, 1500);
  sim.churnUntil = sim.now + ms;
  sim.log(`FAULT leader churn for ${ms}ms`);
}

export function onNewLeader(sim: Simulation, id: NodeId): void {
  if (sim.healing || sim.now >= sim.churnUntil) return;
  const { rng } = sim;
  const n = sim.nodes.get(id)!;
  const inc = n.incarnation;
  sim.schedule(rng.range(1, 25), () => {
    if (n.incarnation !== inc || sim.healing) return;
    if (rng.chance(0.5)) {
      sim.crash(n, 'leader churn');
      sim.schedule(rng.range(5, 300), () => {
        if (!sim.healing) sim.restart(n);
      });
    } else {
      const gen = ++sim.partitionGen;
      sim.net.healLinks();
      sim.net.split([id], live(sim).filter((x) => x !== id));
      sim.log(`leader churn: isolate ${id}`);
      sim.schedule(rng.range(50, 400), () => {
        if (sim.partitionGen !== gen) return;
        sim.partitionGen++;
        sim.net.healLinks();
        sim.log('links healed (churn)');
      });
    }
  });
}

/** A stop-the-world pause of one node (often the leader): it wakes up with stale beliefs. */
function pauseFault(sim: Simulation): void {
  const { rng } = sim;
  const up = sim.upNodes();
  if (up.length === 0) return;
  const leader = sim.leader();
  const n = leader && rng.chance(0.5) ? leader : rng.pick(up);
  const ms = rng.range(20, 600);
  n.pausedUntil = sim.now + ms;
  sim.log(`FAULT pause ${n.id} for ${ms}ms`);
}

function live(sim: Simulation): NodeId[] {
  return [...sim.nodes.keys()].filter((id) => !sim.retired.has(id));
}

function crashFault(sim: Simulation): void {
  const { rng } = sim;
  const up = sim.upNodes();
  if (up.length === 0) return;
  const leader = sim.leader();
  const n = leader && rng.chance(0.4) ? leader : rng.pick(up);
  if (rng.chance(0.5)) {
    n.torn = rng.pick(TORN_STAGES);
    sim.log(`FAULT torn crash of ${n.id} armed (${n.torn})`);
    // If no Ready comes soon, crash anyway.
    sim.schedule(rng.range(5, 40), () => sim.crash(n, 'armed torn crash timed out'));
  } else {
    sim.crash(n, 'fault');
  }
  const downMs = rng.chance(0.3) ? rng.range(5, 60) : rng.range(60, 900);
  sim.schedule(downMs, () => {
    if (!sim.healing) sim.restart(n);
  });
}

function partitionFault(sim: Simulation): void {
  const { rng, net } = sim;
  const ids = live(sim);
  const leader = sim.leader()?.id ?? rng.pick(ids);
  const gen = ++sim.partitionGen;
  sim.stats.partitions++;
  net.healLinks();
  const kind = rng.pick(['isolate', 'isolate-leader', 'split', 'one-way', 'leader-mute', 'leader-deaf', 'flap', 'heal'] as const);
  const others = (group: readonly NodeId[]) => ids.filter((x) => !group.includes(x));
  let desc: string;
  switch (kind) {
    case 'isolate': {
      const group = shuffle(sim, ids).slice(0, rng.range(1, Math.max(1, Math.floor((ids.length - 1) / 2))));
      net.split(group, others(group));
      desc = `isolate ${group}`;
      break;
    }
    case 'isolate-leader':
      net.split([leader], others([leader]));
      desc = `isolate leader ${leader}`;
      break;
    case 'split': {
      // The leader lands in the minority side, so the majority side must elect.
      const minority = [leader, ...shuffle(sim, others([leader])).slice(0, rng.int(Math.floor((ids.length - 1) / 2)))];
      net.split(minority, others(minority));
      desc = `split ${minority} | ${others(minority)}`;
      break;
    }
    case 'one-way': {
      const links: string[] = [];
      for (let k = rng.range(1, 3); k > 0; k--) {
        const a = rng.pick(ids);
        const b = rng.pick(ids);
        if (a !== b) (net.block(a, b), links.push(`${a}>${b}`));
      }
      desc = `one-way ${links}`;
      break;
    }
    case 'leader-mute':
      for (const x of others([leader])) net.block(leader, x);
      desc = `leader ${leader} cannot send`;
      break;
    case 'leader-deaf':
      for (const x of others([leader])) net.block(x, leader);
      desc = `leader ${leader} cannot hear`;
      break;
    case 'flap': {
      const group = shuffle(sim, ids).slice(0, rng.range(1, Math.floor(ids.length / 2)));
      flap(sim, gen, group, others(group), true, rng.range(15, 80));
      desc = `flapping ${group}`;
      break;
    }
    case 'heal':
      desc = 'heal all links';
      break;
  }
  sim.log(`FAULT partition: ${desc}`);
  // extra 'gone': a link torn down by the partition (reset, keepalive timeout) looks like a closed connection.
  if (sim.extra.has('gone') && kind !== 'heal' && rng.chance(0.4)) sim.connectionsClosed(leader);
  sim.schedule(rng.range(100, 1200), () => {
    if (sim.partitionGen !== gen) return;
    sim.partitionGen++; // also stops a flapping cycle
    net.healLinks();
    sim.log(`links healed (${desc})`);
  });
}

function flap(sim: Simulation, gen: number, a: readonly NodeId[], b: readonly NodeId[], cut: boolean, periodMs: number): void {
  if (sim.partitionGen !== gen) return;
  sim.net.healLinks();
  if (cut) sim.net.split(a, b);
  sim.log(`flap ${cut ? 'cut' : 'join'} ${a} | ${b}`);
  sim.schedule(periodMs, () => flap(sim, gen, a, b, !cut, periodMs));
}

function lossyFault(sim: Simulation): void {
  const { rng, net } = sim;
  const gen = ++sim.lossGen;
  net.faults = { dropP: rng.next() * 0.3, dupP: rng.next() * 0.15, slowP: rng.next() * 0.25 };
  sim.log(`FAULT lossy drop=${net.faults.dropP.toFixed(2)} dup=${net.faults.dupP.toFixed(2)} slow=${net.faults.slowP.toFixed(2)}`);
  sim.schedule(rng.range(100, 1000), () => {
    if (gen !== sim.lossGen || sim.healing) return;
    net.faults = sim.baseline;
    sim.log('links calm again');
  });
}

function shuffle<T>(sim: Simulation, items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = sim.rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
