/** Moving a snapshot image (state + members envelope, members.ts) into the state machine. */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { LmdbStore } from '../state-machine/index.ts';
import { unwrapSnapshot, type Members } from './members.ts';

/** Replaces the state machine (and members) with a snapshot image from the raft storage. */
export async function restoreStateFromSnapshot(store: LmdbStore, members: Members, data: Uint8Array): Promise<void> {
  const env = unwrapSnapshot(data);
  if (!env) throw new SeqError(ErrorCode.INTERNAL, 'snapshot image has no SeqDB envelope');
  await store.importSnapshot([env.state]);
  members.restore(env.members);
}
