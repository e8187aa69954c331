/**
 * What a shard's node does about its disk filling up (node/disk/disk-guard.ts watches it): which
 * writes it refuses before proposing them, which messages from its leader it drops as if lost, and
 * when a leader hands its leadership over. See DESIGN.md, *A filling disk*; raft-node.ts asks it.
 */
import { ErrorCode } from '../../shared/errors.ts';
import type { RawNode } from '../raft/raw-node.ts';
import { EntryType, type Message, type NodeId } from '../raft/types.ts';
import { errorResult, type Command, type CommandResult } from '../state-machine/index.ts';
import { growsState, noSpaceMessage, type DiskGuard } from '../disk/disk-guard.ts';
import { snapshotBytes } from './snapshot-images.ts';
import { isDiscarded } from './snapshot-spool.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface DiskPolicyDeps {
  /** None: nothing is refused or dropped for space. */
  readonly disk: DiskGuard | undefined;
  readonly selfId: NodeId;
  readonly raw: RawNode;
  readonly log: (line: string) => void;
  /** Runs the Ready loop (after a leadership transfer starts). */
  readonly schedule: () => void;
  /** When a peer last sent us anything (ms). Default: every peer counts as heard. */
  readonly heardMs?: (id: NodeId) => number;
}

/** A leader whose disk is low hands its leadership to one voter at most this often (all low: no ping-pong). */
const DISK_HANDOVER_PAUSE_MS = 10_000;
/** A low follower still takes this fraction of its reserve in client data per low spell (drops). */
const LOW_BUDGET_PER_RESERVE = 64;
/** A peer's word that its disk is low holds this long (it repeats it every second while it is). */
const PEER_DISK_LOW_TTL_MS = 3000;
/** While some peer is low, a peer not heard from for this long counts as without space too. */
const PEER_HEARD_MS = 1000;

/** An entry with client data: a normal entry that is not a new leader's empty one. */
function carriesData(e: { readonly type: number; readonly data: Uint8Array }): boolean {
  return e.type === EntryType.Normal && e.data.length > 0;
}

export class DiskPolicy {
  /** When leadership was last handed to each voter for a low disk (a pause per target). */
  private readonly diskHandOverMs = new Map<NodeId, number>();
  /** The term this node last led, and since when (leadingForMs). */
  private leaderTerm = 0;
  private leaderSinceMs = 0;
  /** Bytes of client data a follower still takes while its disk is low (drops). */
  private diskLowBudgetBytes = 0;
  /** The disk was low at the last append with client data (a new spell resets the budget). */
  private diskLowSpell = false;
  /** Peers that said their disk is low, until when that holds without a new word. */
  private readonly peerDiskLowUntil = new Map<NodeId, number>();
  /** Appends and snapshots from the leader dropped while the disk was low (INFO). */
  private diskDropped = 0;

  constructor(private readonly d: DiskPolicyDeps) {}

  /** Each tick: a low leader hands its leadership over when it may. */
  onTick(): void {
    if (this.d.disk?.low() === true) this.handOverForDisk();
  }

  /**
   * A write that would grow the state while this node's disk, or those of too many voters, is
   * under its reserve: refused with nothing taken. A leader whose own disk is low first hands its
   * leadership to a caught-up voter with space, and until that settles the write is asked again
   * (TRYAGAIN, which routers retry). With fewer than a quorum of voters with space the write could
   * not commit (their followers drop it): it would time out AMBIGUOUS and apply once space came
   * back (a review), so it is refused now.
   */
  refusal(command: Command, bytes: number): CommandResult | null {
    const disk = this.d.disk;
    if (disk === undefined || !growsState(command)) return null;
    // Its log, then its state: about three times the entry's bytes.
    const selfLow = !disk.admits(3 * bytes);
    if (!selfLow && this.peerDiskLowUntil.size === 0) return null;
    if (selfLow && (this.handOverForDisk() || this.leadingForMs() < PEER_DISK_LOW_TTL_MS)) {
      return errorResult(ErrorCode.TRY_AGAIN, 'leadership is moving off this node (its disk is under the reserve); retry');
    }
    if (selfLow) return errorResult(ErrorCode.NO_SPACE, noSpaceMessage(disk));
    const voters = this.d.raw.status().conf.voters;
    // A voter not heard from lately cannot take the write either: counted as having space, one
    // voter down and one low left writes to time out AMBIGUOUS (a review).
    const now = monoNowMs();
    // (Not the removal check's half election timeout: a busy loop can be that slow to read.)
    const heard = (id: NodeId): boolean => this.d.heardMs === undefined || now - this.d.heardMs(id) <= PEER_HEARD_MS;
    const withSpace = voters.filter((id) => id === this.d.selfId || (!this.peerDiskLow(id) && heard(id))).length;
    if (withSpace > voters.length / 2) return null;
    return errorResult(ErrorCode.NO_SPACE, `${voters.length - withSpace} of the ${voters.length} voters of this shard are under their disk reserve or not heard from; nothing was taken, free space to resume`);
  }

  /** A peer's disk is low (it says so every second while it is, disk-report.ts), or back to normal. */
  peerDisk(id: NodeId, low: boolean): void {
    if (low) this.peerDiskLowUntil.set(id, monoNowMs() + PEER_DISK_LOW_TTL_MS);
    else this.peerDiskLowUntil.delete(id);
  }

  private peerDiskLow(id: NodeId): boolean {
    const until = this.peerDiskLowUntil.get(id);
    if (until === undefined) return false;
    if (until > monoNowMs()) return true;
    this.peerDiskLowUntil.delete(id);
    return false;
  }

  /** How long this node has led in its current term (0 when it does not lead). */
  private leadingForMs(): number {
    const st = this.d.raw.status();
    if (st.role !== 'leader') return 0;
    if (this.leaderTerm !== st.term) {
      this.leaderTerm = st.term;
      this.leaderSinceMs = monoNowMs();
    }
    return monoNowMs() - this.leaderSinceMs;
  }

  /**
   * Whether leadership is on its way to another voter (started now or earlier). Not in a term's
   * first seconds: the followers' words about their disks (every second, to the leader) must have
   * come, or two low nodes pass the leadership back and forth (a review's test saw it).
   */
  private handOverForDisk(): boolean {
    const st = this.d.raw.status();
    if (st.role !== 'leader') return false;
    if (st.leadTransferee !== null) return true;
    const now = monoNowMs();
    if (this.leadingForMs() < PEER_DISK_LOW_TTL_MS) return false;
    let to: NodeId | null = null;
    let best = -1;
    for (const id of st.conf.voters) {
      const pr = st.progress?.[id];
      if (id === this.d.selfId || pr === undefined || !pr.recentActive || pr.match <= best || this.peerDiskLow(id)) continue;
      if (now - (this.diskHandOverMs.get(id) ?? Number.NEGATIVE_INFINITY) < DISK_HANDOVER_PAUSE_MS) continue;
      to = id;
      best = pr.match;
    }
    if (to === null) return false;
    this.diskHandOverMs.set(to, now);
    this.d.log(`disk under the reserve: handing leadership to ${to}`);
    this.d.raw.transferLeadership(to);
    this.d.schedule();
    return true;
  }

  /**
   * While the disk is low a follower takes log entries that carry client data only up to a budget
   * (1/64 of the reserve per low spell: the tail in flight when it went low), and no snapshot; the rest is dropped as if lost (the
   * leader sends it again later). Heartbeats, votes, a new leader's empty entry and conf changes
   * always count. So the shard goes on with the other nodes; and when most nodes are low (the
   * leader then refuses new writes), the tail that was in flight still reaches a quorum, so a new
   * leader can commit its term, which reads need (a review saw reads stop without it). A snapshot
   * is also dropped when the disk could not hold two more copies of it above the reserve (the
   * stored image and the state imported from it; the spooled copy is already on disk): a review
   * saw one fill the disk.
   */
  drops(m: Message): boolean {
    if (m.snapshot !== undefined && isDiscarded(m.snapshot)) {
      this.diskDropped++;
      return true;
    }
    const disk = this.d.disk;
    if (disk === undefined) return false;
    if (m.type === 'snap' && m.snapshot !== undefined) {
      const bytes = snapshotBytes(m.snapshot);
      if (disk.roomFor(2 * bytes)) return false;
    } else if (m.type !== 'app' || !m.entries.some(carriesData)) {
      return false;
    } else if (!disk.low()) {
      this.diskLowSpell = false;
      // Its log, then its state: about three times the entries' bytes.
      let bytes = 0;
      for (const e of m.entries) bytes += e.data.length;
      if (disk.admits(3 * bytes)) return false;
    } else {
      // A new low spell (also one the node started in) gets a fresh budget (a review).
      if (!this.diskLowSpell) this.diskLowBudgetBytes = disk.reserveBytes / LOW_BUDGET_PER_RESERVE;
      this.diskLowSpell = true;
      let bytes = 0;
      for (const e of m.entries) bytes += e.data.length;
      if (bytes <= this.diskLowBudgetBytes) {
        this.diskLowBudgetBytes -= bytes;
        return false;
      }
    }
    this.diskDropped++;
    return true;
  }

  /** INFO fields of the disk guard (none without one). */
  info(): Record<string, number> {
    return this.d.disk === undefined ? {} : { ...this.d.disk.info(), disk_dropped_messages: this.diskDropped };
  }
}
