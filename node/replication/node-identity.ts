/**
 * A node's identity, written into its Raft storage's meta db on first open: a random id (64
 * bits, never reused, so a wiped data dir comes back as a new member) and the shard and cluster
 * it belongs to. A data dir of another shard or cluster is refused (IDENTITY_MISMATCH) rather
 * than joined to the wrong group.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

export interface NodeIdentity {
  readonly nodeId: string;
  readonly shard: string;
  readonly cluster: string;
}

export interface IdentityOptions {
  /** The node's data dir (named in the refusal). */
  readonly dir: string;
  readonly shard: string;
  readonly cluster: string;
  /** Id for a fresh data dir. Default: 16 random hex chars. */
  readonly newNodeId?: () => string;
}

/** The stored identity, or a new one stored now; throws IDENTITY_MISMATCH for another shard or cluster. */
export function loadNodeIdentity(meta: Database<unknown, string>, opts: IdentityOptions): NodeIdentity {
  const stored = meta.get('identity') as NodeIdentity | undefined;
  if (stored) {
    if (stored.shard !== opts.shard || stored.cluster !== opts.cluster) {
      throw new SeqError(
        ErrorCode.IDENTITY_MISMATCH,
        `data dir ${opts.dir} belongs to cluster '${stored.cluster}' shard '${stored.shard}' (node ${stored.nodeId}), ` +
          `not cluster '${opts.cluster}' shard '${opts.shard}'`,
      );
    }
    return stored;
  }
  const nodeId = (opts.newNodeId ?? (() => randomBytes(8).toString('hex')))();
  const identity: NodeIdentity = { nodeId, shard: opts.shard, cluster: opts.cluster };
  meta.putSync('identity', identity);
  return identity;
}
