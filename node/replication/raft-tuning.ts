/** Timing and bounds of a node's Raft driver (raft-node.ts); `seqdb node` flags set them. */
export interface RaftNodeTuning {
  /** Milliseconds per Raft tick. Default 50. */
  readonly tickMs?: number;
  /** Election timeout in ticks, randomized in [t, 2t). Default 10 (0.5-1 s at 50 ms). */
  readonly electionTimeoutTicks?: number;
  /** Heartbeat interval in ticks. Default 1. */
  readonly heartbeatTicks?: number;
  /**
   * Applied entries (or client writes: a batch entry counts each) since the last snapshot that
   * trigger a new one (+ compaction). Default 10,000.
   * A snapshot also waits until the entries applied since the last one carry at least as many
   * bytes as that snapshot's image: an image is the whole state, so without this rule a large
   * state (1M sequences and their tokens) was re-exported every 10,000 INCs and throughput
   * collapsed as the state grew. Snapshot work stays proportional to the write volume; the log
   * kept between snapshots is then about as large as the state (read at restart).
   */
  readonly snapshotEntries?: number;
  /** A write not applied within this long gets OUTCOME_UNKNOWN. Default 5,000. */
  readonly proposalTimeoutMs?: number;
  /** Writes waiting for their entry beyond which new ones get BUSY. Default 100,000. */
  readonly pendingMax?: number;
  /**
   * Milliseconds a follower may keep committed entries back to apply them with later ones in one
   * state transaction (apply-pipeline.ts `hold`); 0 applies each Ready's at once. Default 10.
   */
  readonly applyHoldMs?: number;
  /**
   * Every this many log indexes each replica digests its state and compares the digest with the
   * other replicas' (state-checks.ts); 0 turns it off. Default 10,000.
   */
  readonly stateCheckEntries?: number;
}
