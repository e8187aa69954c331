/**
 * Which members of the shard are known to run a version with a feature whose log entries an
 * older replica could not apply (today only `incs`: an INCS entry stops an older follower at
 * the first one it cannot decode). A leader runs such a command only when every other member is
 * known to have the feature; otherwise it answers FEATURE_OFF and routers send the INCs one at a
 * time. So a router can keep INCS on through a rolling upgrade: the shard turns it on by itself
 * once its last member runs this version.
 *
 * Known from each member's answer to the `probe` control request (`features`), by node id. A
 * member seen with a feature keeps it: a node is not downgraded in place (an older build does not
 * open a data dir a newer one wrote). A member without it (older) or not answering is asked again
 * after `retryMs`, so an upgraded member is noticed within that. Learners count: they apply the
 * log too.
 */
import type { NodeId } from '../raft/types.ts';
import type { Control } from './transport.ts';

/** What this version announces in its probe reply. */
export const FEATURES = ['incs'] as const;
export type Feature = (typeof FEATURES)[number];

export interface PeerFeaturesOptions {
  readonly selfId: NodeId;
  /** A member's address now (undefined: not known yet, so it cannot be asked). */
  readonly addressOf: (id: NodeId) => string | undefined;
  /** One probe round trip; rejects on refusal, error or timeout. */
  readonly probe: (addr: string) => Promise<Control>;
  /** How long after an answer without the feature, or none, a member is asked again. Default 2,000 ms. */
  readonly retryMs?: number;
  /** What this node announces (tests stand in for an older version with []). Default FEATURES. */
  readonly announce?: readonly string[];
  /** Clock in ms (tests). Default Date.now. */
  readonly nowMs?: () => number;
}

export class PeerFeatures {
  private readonly retryMs: number;
  private readonly nowMs: () => number;
  /** Members seen with each feature. */
  private readonly have = new Map<string, Set<NodeId>>();
  /** Members asked and not (yet) answered with everything: not before this time again. */
  private readonly nextAskMs = new Map<NodeId, number>();
  private readonly asking = new Set<NodeId>();

  constructor(private readonly o: PeerFeaturesOptions) {
    this.retryMs = o.retryMs ?? 2000;
    this.nowMs = o.nowMs ?? Date.now;
  }

  /** The `features` field of this node's probe reply. */
  announced(): string[] {
    return [...(this.o.announce ?? FEATURES)];
  }

  /**
   * Whether every member but this node is known to have `feature`. If not, the unknown ones are
   * asked (in the background, at most once per retryMs each), so a later call may say yes.
   */
  allHave(feature: Feature, members: readonly NodeId[]): boolean {
    const seen = this.have.get(feature);
    let all = true;
    for (const id of members) {
      if (id === this.o.selfId || seen?.has(id) === true) continue;
      all = false;
      this.ask(id);
    }
    return all;
  }

  private ask(id: NodeId): void {
    const now = this.nowMs();
    if (this.asking.has(id) || (this.nextAskMs.get(id) ?? 0) > now) return;
    const addr = this.o.addressOf(id);
    if (addr === undefined) return;
    this.asking.add(id);
    this.nextAskMs.set(id, now + this.retryMs);
    this.o.probe(addr).then(
      (reply) => {
        this.asking.delete(id);
        if (reply.nodeId !== id) return; // another node now listens there: it says nothing about id
        const features = Array.isArray(reply.features) ? reply.features : [];
        for (const f of features) if (typeof f === 'string') this.learn(f, id);
      },
      () => this.asking.delete(id),
    );
  }

  private learn(feature: string, id: NodeId): void {
    let set = this.have.get(feature);
    if (set === undefined) this.have.set(feature, (set = new Set()));
    set.add(id);
  }
}
