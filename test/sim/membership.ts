/**
 * The operator: during the fault phase it changes membership one step at a time through the
 * leader (add a fresh learner, promote it once caught up, remove a voter) and asks for
 * leadership transfers. Ids are never reused; removed servers are retired by the simulator
 * once their removal commits.
 */
import type { ConfChange, NodeId } from '../../node/raft/types.ts';
import { raftCode, type SimNode } from './sim-node.ts';
import type { Simulation } from './simulator.ts';

const CONF_CODES: ReadonlySet<string> = new Set([
  'NOT_LEADER', 'TRANSFERRING', 'UNCOMMITTED_FULL', 'TOO_LARGE', 'CONF_CHANGE_PENDING', 'NOT_READY', 'INVALID_CONF_CHANGE',
]);
/** Fresh servers a run may add beyond the initial ones. */
const FRESH_MAX = 4;

export function operate(sim: Simulation): void {
  const l = sim.leader();
  if (!l?.raw || sim.rng.chance(0.3)) return;
  if (sim.rng.chance(0.3)) return transfer(sim, l);
  const conf = sim.committedConf;
  const minVoters = sim.initialVoters === 3 ? 3 : 4;
  const maxVoters = sim.initialVoters + 1;
  const learner = conf.learners[0];
  if (learner !== undefined) {
    // A learner that cannot catch up (down, cut off) is dropped now and then.
    if (sim.rng.chance(0.2)) return propose(sim, l, { type: 'remove', nodeId: learner });
    return promote(sim, l, learner);
  }
  const joining = [...sim.joining][0];
  const canAdd = conf.voters.length < maxVoters && (joining !== undefined || sim.nextFreshId <= sim.initialVoters + FRESH_MAX);
  if (canAdd && (conf.voters.length <= minVoters || sim.rng.chance(0.5))) return addLearner(sim, l, joining);
  if (conf.voters.length > minVoters) propose(sim, l, { type: 'remove', nodeId: sim.rng.pick(conf.voters) });
}

function addLearner(sim: Simulation, l: SimNode, joining: NodeId | undefined): void {
  let id = joining;
  if (id === undefined) {
    id = `n${sim.nextFreshId++}`;
    sim.joining.add(id);
    sim.addNode(id).start(sim.rng);
  }
  propose(sim, l, { type: 'addLearner', nodeId: id });
}

function promote(sim: Simulation, l: SimNode, learner: NodeId): void {
  const st = l.raw!.status();
  const match = st.progress?.[learner]?.match ?? 0;
  // Promote only a learner that caught up, as an operator would.
  if (match + 5 < st.commit) return;
  propose(sim, l, { type: 'promote', nodeId: learner });
}

function propose(sim: Simulation, l: SimNode, cc: ConfChange): void {
  try {
    const t = l.raw!.proposeConfChange(cc);
    sim.log(`operator: ${cc.type} ${cc.nodeId} proposed on ${l.id} at ${t.index}/t${t.term}`);
  } catch (err) {
    sim.log(`operator: ${cc.type} ${cc.nodeId} refused by ${l.id}: ${raftCode(err, CONF_CODES)}`);
  }
  l.drain();
}

function transfer(sim: Simulation, l: SimNode): void {
  const to = sim.rng.pick(sim.committedConf.voters);
  sim.stats.transfers++;
  sim.log(`operator: transfer leadership ${l.id} -> ${to}`);
  l.raw!.transferLeadership(to);
  l.drain();
}
