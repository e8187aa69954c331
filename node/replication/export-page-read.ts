/**
 * CLUSTER EXPORTPAGE on a replicated source, served as a linearizable read on its leader instead
 * of a log entry. Its apply only reads (a page of the frozen slots' data), yet as an entry it cost
 * a Raft round, and every follower a scan of a page it then dropped, for each ~40 KiB of a slot
 * move. Now: the read barrier (read-barrier.ts), then one LMDB read transaction.
 *
 * The page is what the entry would have read: the slots were frozen by FREEZE M, whose reply
 * (released once applied) the coordinator waited for; frozen slots change only by the eviction of
 * old tokens, which every page's fence covers (node/rebalance/DESIGN.md); and one read
 * transaction is one consistent state. Builds before this one still propose it, and every build
 * applies it as before (apply-cluster.ts), so members of mixed builds agree.
 */
import type { ClusterCommand } from '../ownership/cluster-command.ts';
import { exportPageFromState } from '../ownership/apply-cluster.ts';
import { ErrorCode } from '../../shared/errors.ts';
import { errorResult, type Command, type CommandResult, type LmdbStore } from '../state-machine/index.ts';
import { readBarrier } from './read-barrier.ts';

export type ExportPageCommand = Extract<ClusterCommand, { op: 'exportpage' }>;

export function isExportPage(command: Command): command is ExportPageCommand {
  return command.type === 'cluster' && command.op === 'exportpage';
}

export async function exportPageRead(execute: (c: Command) => Promise<CommandResult>, store: LmdbStore, command: ExportPageCommand): Promise<CommandResult> {
  const refused = await readBarrier(execute);
  if (refused !== null) return refused;
  try {
    return store.read((kv) => exportPageFromState(kv, command));
  } catch (err) {
    // In an apply step this failure stopped the node; as a read it refuses the page (the
    // coordinator aborts the move: nothing was changed) and the node goes on. Said, not hidden.
    return errorResult(ErrorCode.STORAGE, `export page not read: ${(err as Error).message}`);
  }
}
