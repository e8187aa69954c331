/**
 * Public types of SeqDB's Raft core. The core (node/raft/) is pure and synchronous: no sockets,
 * files, timers, Date, Math.random or await. A driver feeds it ticks and messages and drains
 * `Ready` batches: persist (hardState, entries, snapshot) -> send messages -> apply
 * committedEntries -> advance().
 *
 * Indexes and terms are JS numbers (exact up to 2^53, far beyond any real log).
 */

export type NodeId = string;

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Opaque command bytes for Normal entries (empty for the leader's no-op); an encoded ConfChange otherwise. */
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type ConfChangeType = 'addLearner' | 'promote' | 'remove';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to the core; the driver puts the node's address here. */
  readonly context?: string;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** State machine image, opaque to the core. */
  readonly data: Uint8Array;
}

export type MessageType =
  | 'app'
  | 'appResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap'
  | 'timeoutNow';

/**
 * One wire message. Field use by type (unused fields are 0 / empty):
 * - app: index = prev log index, logTerm = prev log term, entries, commit.
 * - appResp: index = last index accepted (or rejected probe index), reject, rejectHint, logTerm.
 * - heartbeat: commit, context (ReadIndex round). heartbeatResp: context.
 * - vote/preVote: index = last log index, logTerm = last log term.
 *   preVote carries the term the candidate would campaign in. context = 'transfer' on the
 *   votes of a campaign forced by timeoutNow (voters then skip the leader-lease check).
 * - voteResp/preVoteResp: reject.
 * - snap: snapshot (not split by maxMsgBytes). timeoutNow: -
 * A node answers an app/heartbeat of a lower term with an empty appResp of its own term, so
 * a stale leader learns it was replaced.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly index: number;
  readonly logTerm: number;
  readonly commit: number;
  readonly entries: readonly Entry[];
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** ReadIndex round id, echoed by heartbeatResp. */
  readonly context?: string;
  /**
   * On app/heartbeat: the leader's clockMs when it sent them; appResp/heartbeatResp echo the
   * stamp of what they answer. Lets a follower tell a late message from a live leader
   * (leader-clock.ts) and the leader count only fresh answers toward check-quorum.
   */
  readonly stamp?: number;
}

/** A Message under construction: its builders (Raft.send, the peer codec) assign optional fields. */
export type MessageDraft = { -readonly [K in keyof Message]: Message[K] };

export type Role = 'follower' | 'candidate' | 'preCandidate' | 'leader';

export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/** A linearizable read point: the caller may serve the read once applied >= index. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

export interface Ready {
  /** Present only when changed; persist before sending messages. */
  readonly hardState?: HardState;
  /** Append to stable storage (replacing any stored entries at or after entries[0].index). */
  readonly entries: readonly Entry[];
  /** Install and persist before anything else in this batch. */
  readonly snapshot?: Snapshot;
  /** Send only after hardState, entries and snapshot are durable. */
  readonly messages: readonly Message[];
  /** Apply in order; all are durably committed. */
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Present only when changed. */
  readonly softState?: SoftState;
}

/** Stable storage, read by the core. The driver writes it (after persisting Ready) and tells the core. */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most maxBytes of data (always at least one if lo < hi). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; works for firstIndex()-1 (the compaction point). Throws RaftError COMPACTED / UNAVAILABLE. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /**
   * Index of the latest stored snapshot: initialState()'s conf is the conf there. At least
   * firstIndex() - 1; above it when the log keeps entries the snapshot covers (for followers
   * that lag a little: they catch up from the log instead of a whole image).
   */
  snapshotIndex(): number;
  /** The latest snapshot; may throw RaftError UNAVAILABLE while one is being produced (retried later). */
  snapshot(): Snapshot;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing a leader before a follower campaigns; randomized in [t, 2t). Default 10. */
  readonly electionTimeoutTicks?: number;
  /** Ticks between leader heartbeats. Default 1. */
  readonly heartbeatTicks?: number;
  /** Seeded random source in [0, 1). Required: the core never calls Math.random. */
  readonly rng: () => number;
  readonly storage: Storage;
  /** Index already applied by the state machine at startup. Default 0 (the snapshot index is used if larger). */
  readonly applied?: number;
  /** Default true. */
  readonly preVote?: boolean;
  /** Default true. */
  readonly checkQuorum?: boolean;
  /** Largest entry payload per app message. Default 1 MiB. */
  readonly maxMsgBytes?: number;
  /** In-flight app messages per follower in replicate state. Default 256. */
  readonly maxInflightMsgs?: number;
  /** Bytes of uncommitted entry data the leader accepts before refusing proposals. Default 64 MiB. */
  readonly maxUncommittedBytes?: number;
  /** Committed entries returned per Ready, in bytes. Default 4 MiB. */
  readonly maxCommittedBytesPerReady?: number;
  /** ReadIndex requests awaiting their heartbeat round; more are refused with READS_FULL. Default 4096. */
  readonly maxPendingReads?: number;
  /**
   * A monotonic clock in ms (the simulator's, or performance.now in a node). With it, a leader
   * stamps what it sends, check-quorum counts only answers to what was sent in the last two
   * check periods, and a follower does not take a message queued on a slow link for a sign of a
   * live leader (leader-clock.ts). Default none: every answer and every leader message counts.
   */
  readonly clockMs?: () => number;
  /**
   * How much later than its least-delayed message from the same leader and term a message may
   * arrive and still restart the election timer (and the leader lease). Default 1,000 ms.
   */
  readonly staleAfterMs?: number;
  /**
   * When the commit index moves and a follower has nothing new to be sent, send it an empty app
   * at once to tell it. Default false: the commit rides that follower's next app or heartbeat
   * (about heartbeatTicks later once the leader knows its match), so a lone write costs one app
   * and one ack per follower, not two of each, and only followers' apply waits (no one reads from
   * a follower; a new leader commits an entry of its own term before it serves). A commit that
   * covers a conf change, or a term's first, still goes at once (replication.ts commitMoved).
   */
  readonly sendCommitOnlyApps?: boolean;
}

export const RaftErrorCode = {
  NOT_LEADER: 'NOT_LEADER',
  /** Leadership transfer in progress; retry on the new leader. */
  TRANSFERRING: 'TRANSFERRING',
  UNCOMMITTED_FULL: 'UNCOMMITTED_FULL',
  CONF_CHANGE_PENDING: 'CONF_CHANGE_PENDING',
  /** The leader has not committed an entry of its term yet (reads and conf changes wait for it). */
  NOT_READY: 'NOT_READY',
  INVALID_CONF_CHANGE: 'INVALID_CONF_CHANGE',
  COMPACTED: 'COMPACTED',
  UNAVAILABLE: 'UNAVAILABLE',
  TOO_LARGE: 'TOO_LARGE',
  /** Too many ReadIndex requests awaiting confirmation (maxPendingReads); retry later. */
  READS_FULL: 'READS_FULL',
} as const;
export type RaftErrorCode = (typeof RaftErrorCode)[keyof typeof RaftErrorCode];

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string) {
    super(message);
    this.name = 'RaftError';
    this.code = code;
  }
}

/** Where a proposal landed; it succeeded iff the entry applied at `index` has this `term`. */
export interface ProposalTicket {
  readonly index: number;
  readonly term: number;
}

/** Replication state of one peer, as the leader sees it (etcd's probe / replicate / snapshot). */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly learner: boolean;
}

/** A read-only view of one node, for INFO and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly role: Role;
  readonly leader: NodeId | null;
  /** Membership as of the last applied conf change (or snapshot). */
  readonly conf: ConfState;
  /** Per peer (self included), only on the leader. */
  readonly progress?: Readonly<Record<NodeId, ProgressStatus>>;
  /** Target of a leadership transfer in progress, on the leader. */
  readonly leadTransferee: NodeId | null;
}
