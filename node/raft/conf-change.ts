import type { ConfChange, ConfState } from './types.ts';

/**
 * Single-server membership changes (§4.1): one node per change, applied when committed.
 * Returns why `cc` is invalid against `conf`, or null when it may be applied.
 */
export function confChangeError(conf: ConfState, cc: ConfChange): string | null {
  const voter = conf.voters.includes(cc.nodeId);
  const learner = conf.learners.includes(cc.nodeId);
  if (typeof cc.nodeId !== 'string' || cc.nodeId.length === 0) return 'empty node id';
  switch (cc.type) {
    case 'addLearner':
      return voter || learner ? `${cc.nodeId} is already a member` : null;
    case 'promote':
      return learner ? null : `${cc.nodeId} is not a learner`;
    case 'remove':
      if (!voter && !learner) return `${cc.nodeId} is not a member`;
      return voter && conf.voters.length === 1 ? 'cannot remove the last voter' : null;
    default:
      return `unknown conf change type ${String((cc as { type: unknown }).type)}`;
  }
}

/** The membership after `cc`; `cc` must be valid (see confChangeError). */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const id = cc.nodeId;
  switch (cc.type) {
    case 'addLearner':
      return { voters: [...conf.voters], learners: [...conf.learners, id] };
    case 'promote':
      return { voters: [...conf.voters, id], learners: conf.learners.filter((x) => x !== id) };
    case 'remove':
      return { voters: conf.voters.filter((x) => x !== id), learners: conf.learners.filter((x) => x !== id) };
  }
}
