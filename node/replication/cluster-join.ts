/**
 * How a fresh node becomes part of a shard (Consul's bootstrap-expect model, made safe):
 *
 * - Probe every --join address. If any peer already belongs to a shard, join it.
 * - Otherwise, with --bootstrap-expect 1: once every --join address answered (decideStart).
 * - Otherwise, with --bootstrap-expect N: once this node knows N uninitialized nodes (itself
 *   included) and has the LOWEST id among all it knows, it alone bootstraps a one-voter group;
 *   every other node keeps probing, sees it initialized, and joins it as a learner (the new leader
 *   also adds every node it counted right away, back to back, without waiting for their join
 *   requests); the leader promotes caught-up learners one conf change at a time. So there is exactly one bootstrap as long as at
 *   most N nodes are started with --bootstrap-expect N and their --join lists are the same: any
 *   two such nodes that both count N know each other, and only the lower id bootstraps.
 * - Joining: ask the join addresses (following leader redirects) to add us as a learner, until
 *   our id is in the shard's configuration. Requests are idempotent.
 */
import type { Control } from './transport.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface ProbeReply {
  readonly nodeId: string;
  readonly addr: string;
  readonly initialized: boolean;
  readonly leader: string | null;
  /** Not in a shard yet, but holding a state (a `seqdb restore` output): the shard forms from it. */
  readonly hasState: boolean;
  /** What it announced (peer-features.ts): the leader that adds it knows it from then on. */
  readonly features: readonly string[];
}

export interface JoinDeps {
  readonly selfId: string;
  readonly selfAddr: () => string;
  readonly joinAddrs: readonly string[];
  readonly bootstrapExpect?: number;
  /**
   * With discovery, how long a shard of one listens for peers before it may bootstrap: at start
   * `joinAddrs` holds only what mDNS answered so far, usually nothing. Default 0 (no discovery).
   */
  readonly discoverySettleMs?: number;
  readonly request: (addr: string, control: Control, timeoutMs: number) => Promise<Control>;
  readonly log: (line: string) => void;
  readonly stopped: () => boolean;
  /** This node is not in a shard yet but holds a state (a restore output). Default: no. */
  readonly hasState?: () => boolean;
  /**
   * Called once, just before this node bootstraps, with the fresh peers it counted: the new
   * leader adds them all as learners at once instead of waiting for each one's join request.
   */
  readonly onBootstrapPeers?: (peers: readonly ProbeReply[]) => void;
  /** Probe/join round interval. Default 200 ms. */
  readonly intervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function peersOf(d: JoinDeps): string[] {
  const self = d.selfAddr();
  return [...new Set(d.joinAddrs)].filter((a) => a !== self);
}

/** The peers' probe replies, and how many listed addresses answered (this node under another name too). */
async function probeAll(d: JoinDeps): Promise<{ replies: ProbeReply[]; answered: number }> {
  const settled = await Promise.allSettled(peersOf(d).map((a) => d.request(a, { op: 'probe' }, 1000)));
  const replies: ProbeReply[] = [];
  let answered = 0;
  for (const s of settled) {
    if (s.status !== 'fulfilled') continue;
    const r = s.value as Partial<ProbeReply>;
    if (typeof r.nodeId !== 'string' || typeof r.initialized !== 'boolean') continue;
    answered++;
    if (r.nodeId !== d.selfId) replies.push({ nodeId: r.nodeId, addr: String(r.addr), initialized: r.initialized, leader: typeof r.leader === 'string' ? r.leader : null, hasState: r.hasState === true, features: Array.isArray(r.features) ? r.features.filter((f): f is string => typeof f === 'string') : [] });
  }
  return { replies, answered };
}

/**
 * Waits until this fresh node should bootstrap the shard, or join an existing one. With
 * --bootstrap-expect 1 and no other --join address it bootstraps at once (after listening for
 * discovered peers, which count as --join addresses, when discovery is on); with other addresses
 * it first hears from every one of them: a listed peer may already hold the shard (this node's
 * data dir was replaced and it runs the command line that formed the shard), and bootstrapping
 * without asking formed a second group of the shard, which handed out numbers again (found by a
 * review). So it waits while a listed peer does not answer.
 */
export async function decideStart(d: JoinDeps): Promise<'bootstrap' | 'join' | 'stopped'> {
  if (d.bootstrapExpect === 1 && (d.discoverySettleMs ?? 0) > 0) {
    // A replaced node found its peers only by mDNS: deciding before they answered founded a
    // second group of the shard, which handed out numbers again (found by a discovery review).
    d.log(`listening ${d.discoverySettleMs} ms for nodes of this shard before bootstrapping it`);
    await sleep(d.discoverySettleMs!);
    if (d.stopped()) return 'stopped';
  }
  if (d.bootstrapExpect === 1 && peersOf(d).length === 0) return 'bootstrap';
  let lastLogMs = Number.NEGATIVE_INFINITY;
  const selfHasState = d.hasState?.() === true;
  const every5s = (line: string): void => {
    if (monoNowMs() - lastLogMs < 5000) return;
    lastLogMs = monoNowMs();
    d.log(line);
  };
  while (!d.stopped()) {
    const { replies, answered } = await probeAll(d);
    // A restored state forms the shard: it never joins one (joining, it would take the shard's
    // snapshot over its own state), and a fresh node never founds one while a listed peer holds
    // such a state (an empty group of the shard handed out numbers again: an ops review).
    if (replies.some((r) => r.initialized)) {
      if (!selfHasState) return 'join';
      every5s(`this node holds a restored state, and a --join address is already part of a shard: it will not join it (that would drop the restored state); start the other nodes with empty data dirs`);
      await sleep(d.intervalMs ?? 200);
      continue;
    }
    if (!selfHasState && replies.some((r) => r.hasState)) {
      every5s(`waiting for the node that holds a restored state to form the shard, then joining it`);
      await sleep(d.intervalMs ?? 200);
      continue;
    }
    if (d.bootstrapExpect === 1 && answered >= peersOf(d).length) {
      d.log(`bootstrapping the shard: every --join address answered, none is part of a shard`);
      d.onBootstrapPeers?.(replies);
      return 'bootstrap';
    }
    if (d.bootstrapExpect !== undefined && d.bootstrapExpect > 1) {
      const ids = new Set([d.selfId, ...replies.map((r) => r.nodeId)]);
      // With a restored state here, this node founds the shard (no other holds one: see above).
      const lowest = selfHasState ? d.selfId : [...ids].sort()[0];
      if (ids.size >= d.bootstrapExpect && lowest === d.selfId) {
        d.log(`bootstrapping the shard: ${ids.size} nodes known, this node has the lowest id`);
        d.onBootstrapPeers?.(replies);
        return 'bootstrap';
      }
    }
    const alone = d.bootstrapExpect === 1 ? ' (a shard of one bootstraps once every --join address answered: one may hold the shard already)' : '';
    every5s(`waiting for peers: ${answered} of ${peersOf(d).length} --join addresses answered, bootstrap-expect ${d.bootstrapExpect ?? '-'}${alone}`);
    await sleep(d.intervalMs ?? 200);
  }
  return 'stopped';
}

/** Asks the shard to add this node until `isMember()` (its id is in the configuration). */
export async function joinUntilMember(d: JoinDeps, isMember: () => boolean): Promise<void> {
  let redirect: string | null = null;
  let lastLogMs = Number.NEGATIVE_INFINITY;
  while (!d.stopped() && !isMember()) {
    const targets: string[] = redirect ? [redirect, ...peersOf(d)] : peersOf(d);
    redirect = null;
    for (const addr of targets) {
      if (d.stopped() || isMember()) return;
      let reply: Control;
      try {
        reply = await d.request(addr, { op: 'join', nodeId: d.selfId, addr: d.selfAddr() }, 2000);
      } catch {
        continue;
      }
      if (typeof reply.redirect === 'string' && reply.redirect !== d.selfAddr()) {
        redirect = reply.redirect;
        break;
      }
      if (reply.ok === true) break;
    }
    if (monoNowMs() - lastLogMs > 5000) {
      lastLogMs = monoNowMs();
      d.log('asking the shard to add this node');
    }
    await sleep(d.intervalMs ?? 200);
  }
}
