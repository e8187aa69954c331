/**
 * A leader makes the token options stored in its shard's state (node/state-machine/token-options.ts)
 * those of its own flags, through the log (`CLUSTER TOKENOPTIONS`), so every replica applies the
 * same ones from the same index. Changing `--token-retention-ms` / `--tokens-max` is then: set it
 * on every node and restart them; the shard takes the values of whichever node leads (set them
 * alike, or leadership changes switch the shard between them, each time at one index for all).
 *
 * Only once every member announces the `tokenoptions` feature (peer-features.ts): an older replica
 * could not decode the entry and would stop at it.
 *
 * Likewise the token eviction rules (state-machine/options.ts TOKEN_RULES_LATEST): once every
 * member announces `tokenrules`, the leader proposes `CLUSTER TOKENRULES <latest>`, and every
 * replica evicts by the new rules from that index on. Until then all keep the old ones (a
 * replica that evicted by other rules than its peers could, leading later, answer a retried
 * token otherwise than they would). `tokenrules` means "knows version 2": a version 3 needs a new
 * feature name (`tokenrules3`), or a leader would propose it to members that refuse it at decode
 * and stop. A state already at a newer version than the build is refused at start and after a
 * snapshot install (token-options.ts refuseNewerTokenRules): a rollback past an upgrade.
 */
import type { LmdbStore } from '../state-machine/index.ts';
import { sameTokenOptions, storedTokenOptions, storedTokenRules, type StoredTokenOptions } from '../state-machine/token-options.ts';
import { TOKEN_RULES_LATEST } from '../state-machine/options.ts';
import type { Feature, PeerFeatures } from './peer-features.ts';
import type { RaftNode } from './raft-node.ts';

export interface TokenOptionsSyncDeps {
  readonly node: () => RaftNode | null;
  readonly store: LmdbStore;
  readonly features: PeerFeatures;
  /** This node's flags. */
  readonly flags: StoredTokenOptions;
  /**
   * Members the shard must have before its token rules are raised: --bootstrap-expect. A fresh
   * shard starts as one voter and the other nodes join one by one, and one still joining may be
   * an older build (a CI run of token-rules-upgrade: the leader raised the rules before the
   * older node had joined). A shard that stays below it keeps rules 1. Default 1.
   */
  readonly membersMin?: number;
  readonly log: (line: string) => void;
}

export class TokenOptionsSync {
  private proposing = false;

  constructor(private readonly d: TokenOptionsSyncDeps) {}

  /** Proposes this node's values, then the latest token rules, where the stored ones differ (one proposal at a time). */
  async check(): Promise<void> {
    const node = this.d.node();
    if (node === null || this.proposing) return;
    this.proposing = true;
    try {
      const stored = this.d.store.read((kv) => storedTokenOptions(kv));
      if (!sameTokenOptions(stored, this.d.flags)) {
        if (!(await this.mayPropose(node, 'tokenoptions'))) return;
        const r = await node.execute({ type: 'cluster', op: 'tokenoptions', ...this.d.flags });
        const was = stored === null ? 'none stored' : `were ${stored.tokenRetentionMs} ms / ${stored.tokensMax}`;
        if (r.type === 'ok') this.d.log(`token options of the shard set to this node's: retention ${this.d.flags.tokenRetentionMs} ms, at most ${this.d.flags.tokensMax} tokens (${was})`);
        return;
      }
      const rules = this.d.store.read((kv) => storedTokenRules(kv));
      if (rules >= TOKEN_RULES_LATEST || !(await this.mayPropose(node, 'tokenrules'))) return;
      const r = await node.execute({ type: 'cluster', op: 'tokenrules', version: TOKEN_RULES_LATEST });
      if (r.type === 'ok') this.d.log(`token rules of the shard raised from ${Math.max(rules, 1)} to ${TOKEN_RULES_LATEST} (every member has them)`);
    } finally {
      this.proposing = false;
    }
  }

  /** Whether this node leads and every member has `feature`. */
  private async mayPropose(node: RaftNode, feature: Feature): Promise<boolean> {
    const st = node.status();
    const members = [...st.conf.voters, ...st.conf.learners];
    if (st.role !== 'leader' || !this.d.features.allHave(feature, members)) return false;
    if (feature === 'tokenrules' && members.length < (this.d.membersMin ?? 1)) return false;
    // Every member asked now, not only known to have said yes once: one that is down may come
    // back on an older build (peer-features.ts confirm).
    return (await this.d.features.confirm(feature, members)) && node.status().role === 'leader';
  }
}
