/**
 * Which members of the shard are known to run a version with a feature whose log entries an
 * older replica could not apply (`incs`: an INCS entry stops an older follower at the first one
 * it cannot decode; `tokenoptions`: the CLUSTER TOKENOPTIONS entry, token-options-sync.ts;
 * `tokenrules`: the CLUSTER TOKENRULES entry and the eviction rules it switches on, same file;
 * `releasepages`: the CLUSTER RELEASEPAGE entry, node/ownership/move-shard.ts). A leader runs
 * such a command only when every other member is known to have the feature; otherwise it
 * answers FEATURE_OFF and routers send the INCs one at a time. So a router can keep INCS on through a rolling upgrade: the shard turns it on by itself
 * once its last member runs this version. `framesums` is not about entries: a peer that has it
 * takes checksummed frames (peer-codec.ts), so links to it send them (has()).
 *
 * Known from each member's latest answer to the `probe` control request (`features`), its own
 * probe request that says them (`heard`), or, on the leader that adds it, what it announced when
 * counted or asked to join (`joined`), by node id. A member that answers without it (older) is
 * asked again after `retryMs`, so an upgraded member is noticed within that. One that does not
 * answer is asked again sooner, `failRetryMs` doubling with each failure in a row up to
 * `retryMs`: a brand-new shard's members start within a second of each other, and one that
 * missed its first ask while it started kept series commands refused for a whole `retryMs`. One
 * with it is asked again after `recheckMs`, and its newest
 * answer wins, so a member restarted on an older build (a rollback in place, which nothing
 * forbids between builds that share the log format) loses it within that. A member that does
 * not answer keeps what it said last (it is down; when it is back, it is asked again). Learners
 * count: they apply the log too.
 */
import { monoNowMs } from '../../shared/mono-clock.ts';
import type { NodeId } from '../raft/types.ts';
import type { Control } from './transport.ts';

/** How many nodes beyond the members the table may hold (joiners not added after all, removed members) before they are dropped. */
const KNOWN_IDS_SLACK = 64;

/** What this version announces in its probe reply. */
/** Features with log entries an older replica could not apply: a joiner must have them all. */
export const ENTRY_FEATURES = ['incs', 'tokenoptions', 'tokenrules', 'releasepages'] as const;
/** What this version announces: ENTRY_FEATURES, and `framesums` (it takes checksummed frames). */
export const FEATURES = [...ENTRY_FEATURES, 'framesums'] as const;
export type Feature = (typeof FEATURES)[number];

export interface PeerFeaturesOptions {
  readonly selfId: NodeId;
  /** A member's address now (undefined: not known yet, so it cannot be asked). */
  readonly addressOf: (id: NodeId) => string | undefined;
  /** One probe round trip; rejects on refusal, error or timeout. */
  readonly probe: (addr: string) => Promise<Control>;
  /** How long after an answer without the feature, or none, a member is asked again. Default 2,000 ms. */
  readonly retryMs?: number;
  /** How long after a failed probe a member is asked again, doubled with each failure in a row (at most retryMs). Default 100 ms. */
  readonly failRetryMs?: number;
  /** How long after an answer with every feature a member is asked again. Default 10,000 ms. */
  readonly recheckMs?: number;
  /** What this node announces (tests stand in for an older version with []). Default FEATURES. */
  readonly announce?: readonly string[];
  /** Clock in ms (tests). Default monoNowMs. */
  readonly nowMs?: () => number;
  /**
   * What members said before this process started (saved(), kept in the data dir): a member down
   * since then is not heard from, and series commands, which have no fallback, were refused for
   * as long as it stayed down once the others restarted (a review). Its next answer replaces it.
   */
  readonly known?: Readonly<Record<NodeId, readonly string[]>>;
}

export class PeerFeatures {
  private readonly retryMs: number;
  private readonly failRetryMs: number;
  private readonly recheckMs: number;
  private readonly nowMs: () => number;
  /** Members seen with each feature. */
  private readonly have = new Map<Feature, Set<NodeId>>();
  /** When each member may be asked again (retryMs after an ask, recheckMs after a full yes). */
  private readonly nextAskMs = new Map<NodeId, number>();
  private readonly asking = new Set<NodeId>();
  /** Probes of each member that failed in a row (none answered since). */
  private readonly failures = new Map<NodeId, number>();
  /** Every member noted in `have`: what joined() and `known` add for nodes never (or no longer) members is dropped past KNOWN_IDS_SLACK. */
  private readonly noted = new Set<NodeId>();

  constructor(private readonly o: PeerFeaturesOptions) {
    this.retryMs = o.retryMs ?? 2000;
    this.failRetryMs = Math.min(o.failRetryMs ?? 100, this.retryMs);
    this.recheckMs = o.recheckMs ?? 10_000;
    // Monotonic: with Date.now a clock stepped back held every ask (and the clock readings riding on them) for the step.
    this.nowMs = o.nowMs ?? monoNowMs;
    for (const [id, said] of Object.entries(o.known ?? {})) {
      if (id !== o.selfId && Array.isArray(said)) this.note(id, FEATURES.filter((f) => said.includes(f)));
    }
  }

  /** Bumped whenever what a member said changes: when to save saved() again. */
  version = 0;

  /** What each member said last, to keep across restarts (`known`). */
  saved(): Record<NodeId, Feature[]> {
    const out: Record<NodeId, Feature[]> = {};
    for (const [feature, ids] of this.have) for (const id of ids) (out[id] ??= []).push(feature);
    return out;
  }

  /** The `features` field of this node's probe reply. */
  announced(): string[] {
    return [...(this.o.announce ?? FEATURES)];
  }

  /**
   * Whether every member but this node is known to have `feature`. Members are asked in the
   * background when due (see above), so a later call may answer otherwise.
   */
  allHave(feature: Feature, members: readonly NodeId[]): boolean {
    if (this.noted.size > members.length + KNOWN_IDS_SLACK) this.forgetAllBut(members);
    const seen = this.have.get(feature);
    // A node standing in for an older build (announce) does not have it either: leading, it
    // switched the shard to what it stood in for not knowing (a CI run of token-rules-upgrade).
    let all = (this.o.announce ?? FEATURES).includes(feature);
    for (const id of members) {
      if (id === this.o.selfId) continue;
      if (seen?.has(id) !== true) all = false;
      this.ask(id);
    }
    return all;
  }

  /**
   * Whether `id` is known to have `feature` (asked in the background when due). For what one
   * peer is sent (`framesums`: checksummed peer frames, peer-codec.ts), not for log entries.
   */
  has(id: NodeId, feature: Feature): boolean {
    if (!(this.o.announce ?? FEATURES).includes(feature)) return false; // standing in for an older build
    this.ask(id);
    return this.have.get(feature)?.has(id) === true;
  }

  /**
   * Asks every member but this node now; true only if each answers with `feature`. For an entry
   * that is never urgent (TOKENOPTIONS): a member that is down keeps its last yes in allHave, and
   * may come back on an older build and stop at the entry (a rollback in place).
   */
  async confirm(feature: Feature, members: readonly NodeId[]): Promise<boolean> {
    const answers = await Promise.all(members.filter((id) => id !== this.o.selfId).map(async (id) => {
      const addr = this.o.addressOf(id);
      if (addr === undefined) return false;
      try {
        const reply = await this.o.probe(addr);
        if (reply.nodeId !== id) return false;
        const said: unknown[] = Array.isArray(reply.features) ? reply.features : [];
        this.learn(id, FEATURES.filter((f) => said.includes(f)));
        return said.includes(feature);
      } catch {
        return false;
      }
    }));
    return answers.every((yes) => yes);
  }

  /**
   * `id` asked this node its probe and said its own features in the request (this version's
   * peers do): its newest word, as an answer would be. So a member that leads, and asks the
   * others at once, is known to them before it could die: a brand-new shard's followers had
   * only their own one-second asks to go by, and one whose leader died before then refused
   * series commands as leader until it was back (a CI run). A request without the field (an
   * older build, or another tool's probe) says nothing; nor does one from outside `members`
   * (what anyone may send must not grow the table).
   */
  heard(id: NodeId, said: unknown, members: readonly NodeId[]): void {
    if (id === this.o.selfId || !Array.isArray(said) || !members.includes(id)) return;
    this.learn(id, FEATURES.filter((f) => said.includes(f)));
  }

  /**
   * The leader is adding `id`, having asked it (checkJoiner, or a bootstrap's probe): what it
   * announced then is its newest word (only features this version knows are kept). Without it,
   * a leader whose shard had just grown refused INCS (FEATURE_OFF) until its own ask of the new
   * member came back, and a router's pipelined burst of INCs of one bucket got TRYAGAIN in a
   * brand-new shard's first seconds (a CI run).
   */
  joined(id: NodeId, said: readonly string[]): void {
    if (id !== this.o.selfId) this.learn(id, FEATURES.filter((f) => said.includes(f)));
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
        this.failures.delete(id);
        if (reply.nodeId !== id) return; // another node now listens there: it says nothing about id
        // Only features this version knows are kept: what a peer sends cannot grow the table.
        const said: unknown[] = Array.isArray(reply.features) ? reply.features : [];
        this.learn(id, FEATURES.filter((f) => said.includes(f)));
      },
      () => {
        this.asking.delete(id);
        const failures = (this.failures.get(id) ?? 0) + 1;
        this.failures.set(id, failures);
        this.nextAskMs.set(id, this.nowMs() + Math.min(this.retryMs, this.failRetryMs * 2 ** Math.min(failures - 1, 30)));
      },
    );
  }

  /** `id`'s newest answer replaces what it said before. */
  private learn(id: NodeId, features: readonly Feature[]): void {
    this.note(id, features);
    if (FEATURES.every((f) => features.includes(f))) this.nextAskMs.set(id, this.nowMs() + this.recheckMs);
  }

  private forgetAllBut(members: readonly NodeId[]): void {
    for (const id of [...this.noted]) {
      if (members.includes(id)) continue;
      this.noted.delete(id);
      this.nextAskMs.delete(id);
      this.failures.delete(id);
      for (const set of this.have.values()) if (set.delete(id)) this.version++;
    }
  }

  private note(id: NodeId, features: readonly Feature[]): void {
    this.noted.add(id);
    for (const [feature, set] of this.have) if (!features.includes(feature) && set.delete(id)) this.version++;
    for (const feature of features) {
      let set = this.have.get(feature);
      if (set === undefined) this.have.set(feature, (set = new Set()));
      if (!set.has(id)) {
        set.add(id);
        this.version++;
      }
    }
  }
}

/** What the leader learned asking a joiner: why it must not join, or the features it announced. */
export type JoinCheck = { readonly ok: true; readonly features: readonly Feature[] } | { readonly ok: false; readonly why: string };

/**
 * Whether a node asking to join may. A joiner replays the log from wherever its snapshot leaves
 * off, INCS entries included, so one that does not announce every entry feature of this version
 * (an older build) is refused; it keeps asking and is added once upgraded. What it announced is the
 * leader's first word on it (`joined`).
 */
export async function checkJoiner(probe: (addr: string) => Promise<Control>, nodeId: NodeId, addr: string): Promise<JoinCheck> {
  let reply: Control;
  try {
    reply = await probe(addr);
  } catch (err) {
    return { ok: false, why: `cannot ask ${nodeId} at ${addr} which features it has: ${(err as Error).message}` };
  }
  if (reply.nodeId !== nodeId) return { ok: false, why: `${addr} answers as ${String(reply.nodeId)}, not ${nodeId}` };
  const said: unknown[] = Array.isArray(reply.features) ? reply.features : [];
  // Not framesums: a member without it is sent plain frames, which every build takes.
  const missing = ENTRY_FEATURES.filter((f) => !said.includes(f));
  if (missing.length > 0) return { ok: false, why: `${nodeId} runs a version without ${missing.join(', ')} (its log entries would stop it): upgrade it, then it joins` };
  return { ok: true, features: FEATURES.filter((f) => said.includes(f)) };
}
