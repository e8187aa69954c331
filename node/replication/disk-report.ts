/**
 * A follower whose disk is under its reserve tells its leader, every second while it is and once
 * when it is not any more, so that the leader refuses writes a quorum could not take (NOSPACE,
 * nothing taken) instead of proposing them to time out AMBIGUOUS and apply once space comes back,
 * and does not hand its leadership to it (raft-node.ts diskRefusal, handOverForDisk). A word
 * holds 3 s at the leader, so a follower that stops saying it (or dies) stops counting as low.
 */
import type { DiskGuard } from '../disk/disk-guard.ts';
import type { RaftNode } from './raft-node.ts';
import type { Control } from './transport.ts';

export interface DiskReportDeps {
  readonly disk: DiskGuard;
  readonly node: () => RaftNode | null;
  readonly request: (addr: string, c: Control, timeoutMs: number) => Promise<Control>;
}

export class DiskReport {
  /** The state the leader was last told (a "back to normal" is sent once). */
  private told = false;

  constructor(private readonly d: DiskReportDeps) {}

  /** Every second and on each change of the guard's state. */
  tick(): void {
    const node = this.d.node();
    const low = this.d.disk.low();
    if (node === null || (!low && !this.told)) return;
    if (node.status().role === 'leader') {
      this.told = false;
      return;
    }
    const leader = node.leaderAddress();
    if (leader === null) return;
    this.told = low;
    this.d.request(leader, { op: 'disk', low }, 1000).catch(() => {
      if (!low) this.told = true; // say it again next second
    });
  }
}
