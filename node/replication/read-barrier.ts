/**
 * A linearizable point to read local state from, on a replicated leader: a GET through the node
 * completes a ReadIndex round (read-queue.ts) and answers once everything committed before it is
 * applied, so an LMDB read transaction opened after it sees every write acknowledged before the
 * request. Used by what reads more than a GET can: a backup's whole image (node/backup/export.ts)
 * and a slot move's export pages (export-page-read.ts).
 */
import { ErrorCode } from '../../shared/errors.ts';
import type { Command, CommandResult } from '../state-machine/index.ts';

/** Results of the barrier that mean "not here / not now": passed back to the caller. */
export const BARRIER_PASS_BACK = new Set<string>([ErrorCode.NOT_LEADER, ErrorCode.TRY_AGAIN, ErrorCode.BUSY, ErrorCode.SHUTTING_DOWN, ErrorCode.CLUSTER_DOWN, ErrorCode.STORAGE, ErrorCode.OUTCOME_UNKNOWN]);

/** A GET that only waits for its ReadIndex round (GetCommand.barrier): no bucket's owner matters. */
export const BARRIER_GET: Command = { type: 'get', bucket: Buffer.from('\0seqdb-barrier'), sequence: Buffer.from('\0'), barrier: true };

/** null once the barrier stands, else the refusal to pass back. */
export async function readBarrier(execute: (c: Command) => Promise<CommandResult>): Promise<CommandResult | null> {
  const r = await execute(BARRIER_GET);
  return r.type === 'error' && BARRIER_PASS_BACK.has(r.code) ? r : null;
}
