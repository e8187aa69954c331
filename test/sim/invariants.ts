/**
 * Safety invariants of Raft, checked by the simulator as events happen. State is tracked per
 * node id across restarts, from what each node persisted, so a node that forgets its vote or
 * its term on restart is caught too. Every check throws SimViolation with a stable property.
 */
import type { Entry, HardState, Message, NodeId, Snapshot, Storage } from '../../node/raft/types.ts';
import { violation } from './violation.ts';

interface LoggedEntry {
  readonly type: number;
  readonly data: string;
  readonly prevTerm: number;
}

interface AppliedEntry {
  readonly term: number;
  readonly type: number;
  readonly data: string;
  /** The INC key, when the entry is an INC. */
  readonly key: string | null;
  readonly value: number | null;
}

interface NodeRecord {
  term: number;
  commit: number;
  applied: number;
  readonly votes: Map<number, NodeId>;
}

/** What the state machine made of an applied entry (null for no-ops and conf changes). */
export interface ApplyResult {
  readonly opId: number;
  readonly key: string;
  readonly value: number;
}

export function dataKey(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
}

export class SafetyChecker {
  /** index -> term -> the one entry a leader of that term created there. */
  private readonly logged = new Map<number, Map<number, LoggedEntry>>();
  /** Global applied sequence, 1-based; every node's applied sequence must be a prefix of it. */
  private readonly applied: AppliedEntry[] = [];
  private readonly committedTerm: number[] = [];
  /** The term in which index i was first known committed (the committing leader's term). */
  private readonly commitTerm: number[] = [];
  private readonly nodes = new Map<NodeId, NodeRecord>();
  private readonly leaders = new Map<number, NodeId>();
  readonly appliedValues = new Map<number, number>();
  relaxMsgCheck = false;
  staleClaims = 0;
  /** Called once per index, when the first node applies it (the committed sequence grows). */
  onNewApplied: ((e: Entry) => void) | null = null;

  elections(): number {
    return this.leaders.size;
  }

  committedIndex(): number {
    return Math.max(0, this.committedTerm.length - 1);
  }

  appliedCount(): number {
    return Math.max(0, this.applied.length - 1);
  }

  /** extra 'rollback': the node's disk went back in time; its own monotonic records restart from it. */
  rollback(id: NodeId, hs: HardState, applied: number): void {
    const r = this.node(id);
    r.term = hs.term;
    r.commit = hs.commit;
    r.applied = applied;
    r.votes.clear();
  }

  private node(id: NodeId): NodeRecord {
    let r = this.nodes.get(id);
    if (!r) {
      r = { term: 0, commit: 0, applied: 0, votes: new Map() };
      this.nodes.set(id, r);
    }
    return r;
  }

  /** Before storage.append: a stored entry at or below the persisted commit must never be replaced. */
  beforeAppend(id: NodeId, storage: Storage, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const commit = storage.initialState().hardState.commit;
    const last = storage.lastIndex();
    const first = storage.firstIndex();
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== entries[0]!.index + k) violation('entries-contiguous', `${id}: ready entries not contiguous at ${e.index}`);
      if (e.index > commit || e.index > last || e.index < first) continue;
      const had = storage.term(e.index);
      if (had !== e.term) {
        violation('truncated-committed', `${id}: entry ${e.index} (term ${had}) at or below commit ${commit} replaced by term ${e.term}`);
      }
    }
  }

  /** After storage.append: each (index, term) names one entry with one predecessor (log matching). */
  afterAppend(id: NodeId, storage: Storage, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let prevTerm = safeTerm(storage, entries[0]!.index - 1);
    for (const e of entries) {
      const rec: LoggedEntry = { type: e.type, data: dataKey(e.data), prevTerm };
      let byTerm = this.logged.get(e.index);
      if (!byTerm) {
        byTerm = new Map();
        this.logged.set(e.index, byTerm);
      }
      const known = byTerm.get(e.term);
      if (!known) byTerm.set(e.term, rec);
      else if (known.data !== rec.data || known.type !== rec.type || (prevTerm >= 0 && known.prevTerm >= 0 && known.prevTerm !== prevTerm)) {
        violation('log-matching', `${id}: entry ${e.index}/t${e.term} differs from one seen before (prev term ${prevTerm} vs ${known.prevTerm})`);
      }
      prevTerm = e.term;
    }
  }

  /** After the hard state is persisted: term/commit monotone, one vote per term, commit durable. */
  onHardState(id: NodeId, hs: HardState, storage: Storage): void {
    const r = this.node(id);
    if (hs.term < r.term) violation('term-monotonic', `${id}: persisted term ${hs.term} after ${r.term}`);
    if (hs.commit < r.commit) violation('commit-monotonic', `${id}: persisted commit ${hs.commit} after ${r.commit}`);
    if (hs.vote !== null) {
      const had = r.votes.get(hs.term);
      if (had !== undefined && had !== hs.vote) violation('double-vote', `${id}: voted ${had} then ${hs.vote} in term ${hs.term}`);
      r.votes.set(hs.term, hs.vote);
    }
    if (hs.commit > storage.lastIndex()) violation('commit-durable', `${id}: commit ${hs.commit} beyond persisted last index ${storage.lastIndex()}`);
    // Entries below the snapshot point are gone from this node's log; others noted them.
    const from = Math.max(r.commit + 1, storage.firstIndex() - 1, 1);
    r.term = hs.term;
    r.commit = hs.commit;
    for (let i = from; i <= hs.commit; i++) this.noteCommitted(id, i, storage.term(i), hs.term);
  }

  private noteCommitted(id: NodeId, index: number, term: number, inTerm: number): void {
    const known = this.committedTerm[index];
    if (known === undefined) {
      // Unknown indexes below (seen by no node before a snapshot jump) stay unchecked.
      for (let i = this.committedTerm.length; i < index; i++) this.committedTerm[i] = -1;
      this.committedTerm[index] = term;
      this.commitTerm[index] = inTerm;
      return;
    }
    if (known === -1) {
      this.committedTerm[index] = term;
      this.commitTerm[index] = inTerm;
      return;
    }
    if (known !== term) violation('committed-changed', `${id}: committed entry ${index} has term ${term}, was committed with term ${known}`);
  }

  /**
   * A snapshot installed by the driver: never behind applied, same state as the applied prefix.
   * `kept`: the driver stored it but kept its state, already at or past it (its image is still
   * checked against the applied prefix).
   */
  onSnapshot(id: NodeId, snap: Snapshot, appliedBefore: number, counters: ReadonlyMap<string, number>, kept = false): void {
    const s = snap.meta.index;
    if (!kept && s < appliedBefore) violation('applied-monotonic', `${id}: snapshot at ${s} installed after applying ${appliedBefore}`);
    if (s > this.appliedCount()) violation('snapshot-unapplied', `${id}: snapshot at ${s} beyond anything applied (${this.appliedCount()})`);
    const at = this.applied[s];
    if (s > 0 && at && at.term !== snap.meta.term) violation('snapshot-mismatch', `${id}: snapshot ${s}/t${snap.meta.term} but entry ${s} applied with term ${at.term}`);
    const expected = new Map<string, number>();
    for (let i = 1; i <= s; i++) {
      const k = this.applied[i]!.key;
      if (k !== null) expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    if (!sameCounters(expected, counters)) violation('snapshot-mismatch', `${id}: snapshot at ${s} state differs from the applied prefix`);
    if (!kept) this.node(id).applied = s;
  }

  /** Before a message leaves: what it claims must already be durable on the sender. */
  onSend(id: NodeId, m: Message, storage: Storage): void {
    if (m.type === 'preVote' || m.type === 'preVoteResp') return;
    const hs = storage.initialState().hardState;
    if (m.term > hs.term) violation('persist-before-send', `${id}: sent ${m.type} in term ${m.term} with persisted term ${hs.term}`);
    // relaxMsgCheck (extra 'slowdisk'): a message queued in an earlier term and sent once a later
    // term is durable: that term can never vote or append again.
    if (this.relaxMsgCheck && m.term < hs.term) {
      if ((m.type === 'appResp' && !m.reject && m.index > storage.lastIndex()) || (m.type === 'voteResp' && !m.reject)) {
        this.staleClaims++;
        if (process.env.SIMFAULTS_STALE) console.error(`stale claim: ${id} ${m.type} t${m.term} i=${m.index} to ${m.to}; persisted t${hs.term} last ${storage.lastIndex()}`);
      }
      return;
    }
    if (m.type === 'voteResp' && !m.reject && (hs.term !== m.term || hs.vote !== m.to)) {
      violation('persist-before-send', `${id}: granted vote to ${m.to} in term ${m.term}, persisted term ${hs.term} vote ${hs.vote}`);
    }
    if (m.type === 'appResp' && !m.reject && m.index > storage.lastIndex()) {
      violation('persist-before-send', `${id}: acknowledged index ${m.index}, persisted last index ${storage.lastIndex()}`);
    }
  }

  /** The state machine applied `e`: in order, committed, the same entry every node applied there. */
  onApply(id: NodeId, e: Entry, appliedBefore: number, result: ApplyResult | null, quorumDurable = false): void {
    const r = this.node(id);
    if (e.index !== appliedBefore + 1) violation('apply-order', `${id}: applied ${e.index} after ${appliedBefore}`);
    // quorumDurable: the driver checked that a quorum holds it on disk (a leader applying ahead of its own write).
    if (e.index > r.commit && !quorumDurable) violation('apply-uncommitted', `${id}: applied ${e.index} with persisted commit ${r.commit}`);
    const rec: AppliedEntry = { term: e.term, type: e.type, data: dataKey(e.data), key: result?.key ?? null, value: result?.value ?? null };
    const known = this.applied[e.index];
    if (known === undefined) {
      if (e.index !== Math.max(1, this.applied.length)) violation('apply-order', `${id}: applied ${e.index}, global applied ends at ${this.applied.length - 1}`);
      this.applied[e.index] = rec;
      if (result) this.appliedValues.set(result.opId, result.value);
      this.onNewApplied?.(e);
    } else if (known.term !== rec.term || known.type !== rec.type || known.data !== rec.data || known.value !== rec.value) {
      violation('applied-prefix', `${id}: applied ${e.index}/t${e.term} (${rec.data}) where another node applied t${known.term} (${known.data})`);
    }
    r.applied = e.index;
  }

  /** A restarted node skips an entry its state machine applied before the crash: it must be that entry. */
  onReapply(id: NodeId, e: Entry): void {
    const known = this.applied[e.index];
    if (known === undefined || known.term !== e.term || known.type !== e.type || known.data !== dataKey(e.data)) {
      violation('applied-prefix', `${id}: skips ${e.index}/t${e.term} as applied, but the entry applied there is ${known ? `t${known.term}` : 'none'}`);
    }
  }

  /**
   * A node became leader of `term` (checked after it persisted that Ready): the only one in that
   * term, it voted for itself, and its log holds every entry committed in an earlier term.
   */
  onLeader(id: NodeId, term: number, storage: Storage): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) violation('one-leader-per-term', `${id} and ${other} both leader in term ${term}`);
    this.leaders.set(term, id);
    const hs = storage.initialState().hardState;
    if (hs.term !== term || hs.vote !== id) violation('leader-persisted-vote', `${id} leader of term ${term} with persisted term ${hs.term} vote ${hs.vote}`);
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    for (let i = Math.max(1, first); i < this.committedTerm.length; i++) {
      const ct = this.committedTerm[i]!;
      if (ct === -1 || this.commitTerm[i]! >= term) continue;
      if (i > last || storage.term(i) !== ct) {
        violation('leader-completeness', `${id} leader of term ${term} lacks entry ${i}/t${ct} committed in term ${this.commitTerm[i]}`);
      }
    }
  }
}

function safeTerm(storage: Storage, index: number): number {
  try {
    return storage.term(index);
  } catch {
    return -1;
  }
}

function sameCounters(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) if ((a.get(k) ?? 0) !== (b.get(k) ?? 0)) return false;
  return true;
}
