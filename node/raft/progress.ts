import { Inflights } from './inflights.ts';
import type { ProgressState } from './types.ts';

/**
 * The leader's view of one peer. probe: one message at a time until the match point is
 * found; replicate: optimistic pipelining within the inflight window; snapshot: paused
 * until the snapshot is reported or an appResp shows the peer caught up.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Index of the snapshot in flight (snapshot state). */
  pendingSnapshot = 0;
  /** Heard from in the current check-quorum period. */
  recentActive = false;
  /** The newest stamp this peer echoed (leader-clock.ts); -1 before any. */
  echoedStampMs = -1;
  /** Snapshot state: leader ticks since the snapshot was sent (a lost snapshot is retried). */
  snapshotTicks = 0;
  /** Probe state: a message is out; wait for its answer or a heartbeat response. */
  probeSent = false;
  /** The clock stamp of the probe out (leader-clock.ts); -1 when unstamped. */
  probeStampMs = -1;
  /**
   * The commit index the last app message to this peer carried. A commit that moved only needs
   * an app of its own when the peer has not been sent it yet (replication.ts bcastAppend).
   */
  sentCommit = 0;
  learner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, learner: boolean) {
    this.next = next;
    this.learner = learner;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.resetState('replicate');
  }

  becomeSnapshot(index: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = index;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.snapshotTicks = 0;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /** An appResp acknowledged index n. Returns whether match moved. */
  maybeUpdate(n: number): boolean {
    const updated = this.match < n;
    if (updated) {
      this.match = n;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** An app message with entries up to lastIndex (count of them) was sent, stamped `stamp`. */
  sentEntries(lastIndex: number, count: number, stamp?: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
      this.probeStampMs = stamp ?? -1;
    }
  }

  /**
   * A heartbeat response arrived that echoes `echoedStampMs`: whether the probe out should be
   * taken as lost and sent again. Only when that heartbeat left after the probe did: on one
   * ordered connection the probe then reached the peer first, so its answer is due. Answers to
   * heartbeats sent before it prove the peer alive, not the probe lost; taking them as lost
   * resent the probe once per such answer (a review: a follower restarted behind 200 ms of delay
   * got its 100 KB probe 11 times, from the 10 answers its reconnect flushed at once, and the
   * copies held back its heartbeats for 2 s). Unstamped (no clock, an older peer): always.
   */
  probeOverdue(echoedStampMs: number | undefined): boolean {
    return echoedStampMs === undefined || this.probeStampMs < 0 || echoedStampMs >= this.probeStampMs;
  }

  /**
   * The peer rejected an app whose prev index was `rejected`; `hint` is where to probe next.
   * Returns false for a stale rejection (out of order) that must be ignored.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
