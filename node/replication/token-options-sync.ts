/**
 * A leader makes the token options stored in its shard's state (node/state-machine/token-options.ts)
 * those of its own flags, through the log (`CLUSTER TOKENOPTIONS`), so every replica applies the
 * same ones from the same index. Changing `--token-retention-ms` / `--tokens-max` is then: set it
 * on every node and restart them; the shard takes the values of whichever node leads (set them
 * alike, or leadership changes switch the shard between them, each time at one index for all).
 *
 * Only once every member announces the `tokenoptions` feature (peer-features.ts): an older replica
 * could not decode the entry and would stop at it.
 */
import type { LmdbStore } from '../state-machine/index.ts';
import { sameTokenOptions, storedTokenOptions, type StoredTokenOptions } from '../state-machine/token-options.ts';
import type { PeerFeatures } from './peer-features.ts';
import type { RaftNode } from './raft-node.ts';

export interface TokenOptionsSyncDeps {
  readonly node: () => RaftNode | null;
  readonly store: LmdbStore;
  readonly features: PeerFeatures;
  /** This node's flags. */
  readonly flags: StoredTokenOptions;
  readonly log: (line: string) => void;
}

export class TokenOptionsSync {
  private proposing = false;

  constructor(private readonly d: TokenOptionsSyncDeps) {}

  /** Proposes this node's values if it leads and the stored ones differ (one proposal at a time). */
  async check(): Promise<void> {
    const node = this.d.node();
    if (node === null || this.proposing) return;
    const st = node.status();
    if (st.role !== 'leader' || !this.d.features.allHave('tokenoptions', [...st.conf.voters, ...st.conf.learners])) return;
    const stored = this.d.store.read((kv) => storedTokenOptions(kv));
    if (sameTokenOptions(stored, this.d.flags)) return;
    this.proposing = true;
    try {
      // Every member asked now, not only known to have said yes once: one that is down may come
      // back on an older build (peer-features.ts confirm).
      if (!(await this.d.features.confirm('tokenoptions', [...st.conf.voters, ...st.conf.learners]))) return;
      if (node.status().role !== 'leader') return;
      const r = await node.execute({ type: 'cluster', op: 'tokenoptions', ...this.d.flags });
      const was = stored === null ? 'none stored' : `were ${stored.tokenRetentionMs} ms / ${stored.tokensMax}`;
      if (r.type === 'ok') this.d.log(`token options of the shard set to this node's: retention ${this.d.flags.tokenRetentionMs} ms, at most ${this.d.flags.tokensMax} tokens (${was})`);
    } finally {
      this.proposing = false;
    }
  }
}
