/**
 * etcd's strict reconfiguration check (--strict-reconfig-check): removing a voter must leave a
 * majority of the remaining voters alive. Otherwise the removal commits under the old
 * configuration (the leader and the removed node are a majority of it), answers +OK, and the new
 * configuration has no quorum: with one of three voters down, removing another live one stopped
 * the shard for good, and replacing the down node could not help, because the configuration
 * still names its old id (found by a review). Refused with TRYAGAIN instead.
 */
import { ErrorCode } from '../../shared/errors.ts';
import type { NodeId } from '../raft/types.ts';
import { errorResult, type CommandResult } from '../state-machine/command.ts';

export interface Liveness {
  readonly self: NodeId;
  /** When a peer last sent us anything (monoNowMs; -Infinity: never). */
  readonly heardMs: (id: NodeId) => number;
  /** Heard from within this long: alive. */
  readonly windowMs: number;
  readonly nowMs: number;
}

/** The refusal of removing `id` from `voters`, or null if a majority of the rest is alive (or `id` is no voter). */
export function removalRefusal(voters: readonly NodeId[], id: NodeId, live: Liveness): CommandResult | null {
  if (!voters.includes(id)) return null;
  const rest = voters.filter((v) => v !== id);
  const since = live.nowMs - live.windowMs;
  const down = rest.filter((v) => v !== live.self && live.heardMs(v) < since);
  if (rest.length === 0 || rest.length - down.length > rest.length / 2) return null;
  return errorResult(
    ErrorCode.TRY_AGAIN,
    `removing ${id} would leave ${rest.length} voters of which ${down.length} (${down.join(', ')}) are not answering: no quorum; bring them back, or remove a down one first`,
  );
}
