/**
 * Applies a CLUSTER command inside the state machine's transaction (deterministic: the same
 * log gives every replica the same catalog and ownership).
 */
import { ErrorCode } from '../../shared/errors.ts';
import { OK_RESULT, errorResult, intResult, type CommandResult } from '../state-machine/command.ts';
import type { KvReader, KvTxn } from '../state-machine/kv.ts';
import { CATALOG_SHARD_ID, catalogToJson, initSlots, readCatalog, registerShard } from './catalog.ts';
import type { ClusterCommand } from './cluster-command.ts';
import { readOwnership, setOwnership, shardedAs } from './ownership.ts';
import { drainShard, forgetShard, moveAbort, moveBegin, moveCommit, moveEnd, moveStatusJson, readRetired } from './move-catalog.ts';
import { exportPage, importDone, importPart, importStatus } from './move-import.ts';
import { exportFrozen, freezeSlots, importSlots, rejectSlots, releasePage, releaseSlots, unfreezeSlots } from './move-shard.ts';

const NOT_SHARDED = errorResult(ErrorCode.CLUSTER_DOWN, 'this node is not part of a sharded cluster');

export function applyClusterCommand(txn: KvTxn, command: ClusterCommand): CommandResult {
  const shard = shardedAs(txn);
  if (shard === null) return NOT_SHARDED;
  switch (command.op) {
    case 'register':
    case 'initslots':
    case 'catalog':
    case 'move':
    case 'movebegin':
    case 'movecommit':
    case 'moveabort':
    case 'moveend':
    case 'drain':
    case 'forget':
      if (shard !== CATALOG_SHARD_ID) {
        return errorResult(ErrorCode.CLUSTER_DOWN, `shard ${shard} does not hold the catalog (shard ${CATALOG_SHARD_ID} does)`);
      }
      if (command.op === 'register') {
        if (readRetired(txn).includes(command.shard)) return errorResult(ErrorCode.MOVE_REFUSED, `shard ${command.shard} was removed from the cluster; start a new shard id`);
        registerShard(txn, command.shard, command.addrs);
        return OK_RESULT;
      }
      if (command.op === 'move') return bulkResult(moveStatusJson(txn));
      if (command.op === 'movebegin') return moveBegin(txn, command.from, command.to, command.slots);
      if (command.op === 'movecommit') return moveCommit(txn, command.epoch);
      if (command.op === 'moveabort') return moveAbort(txn, command.epoch);
      if (command.op === 'moveend') return moveEnd(txn, command.epoch);
      if (command.op === 'drain') return drainShard(txn, command.shard);
      if (command.op === 'forget') return forgetShard(txn, command.shard);
      if (command.op === 'initslots') {
        const epoch = initSlots(txn);
        return epoch === 0 ? errorResult(ErrorCode.TRY_AGAIN, 'no shard registered yet') : intResult(BigInt(epoch));
      }
      return bulkResult(catalogToJson(readCatalog(txn)));
    case 'setslots':
      if (command.shard !== shard) return errorResult(ErrorCode.SYNTAX, `slots for shard ${command.shard} sent to shard ${shard}`);
      return intResult(BigInt(setOwnership(txn, command.epoch, command.slots)));
    case 'ownership': {
      const own = readOwnership(txn)!;
      return bulkResult(JSON.stringify({ shard: own.shard, epoch: own.epoch, slots: own.slots.size }));
    }
  }
  return applyMoveStep(txn, shard, command);
}

function ownershipPending(kv: KvReader, shard: string): CommandResult | null {
  if (readOwnership(kv)!.epoch !== 0) return null;
  return errorResult(ErrorCode.TRY_AGAIN, `shard ${shard} has no slot ownership committed yet (its first SETSLOTS): a move waits for it`);
}

/**
 * EXPORTPAGE answered from a read instead of an entry (node/replication/export-page-read.ts):
 * the same guards and the same page as applying it.
 */
export function exportPageFromState(kv: KvReader, command: Extract<ClusterCommand, { op: 'exportpage' }>): CommandResult {
  const shard = shardedAs(kv);
  if (shard === null) return NOT_SHARDED;
  return ownershipPending(kv, shard) ?? exportPage(kv, command.epoch, command.slots, command.after);
}

/**
 * A slot move's steps on this shard (move-shard.ts, move-import.ts), only once its ownership is
 * initialized (the first SETSLOTS push of the committed table): several steps raise the shard's
 * ownership epoch, which setOwnership reads as "initialized", so a step applied first (a move
 * begun while this shard's leader was still coming up) made the late push a no-op and the shard
 * never served the slots the table gives it. TRYAGAIN: the coordinator retries the step.
 */
function applyMoveStep(txn: KvTxn, shard: string, command: ClusterCommand): CommandResult {
  const pending = ownershipPending(txn, shard);
  if (pending !== null) return pending;
  switch (command.op) {
    case 'freeze':
      return freezeSlots(txn, command.epoch, command.slots);
    case 'export':
      return exportFrozen(txn, command.epoch, command.slots);
    case 'release':
      return releaseSlots(txn, command.epoch, command.slots);
    case 'releasepage':
      return releasePage(txn, command.epoch, command.slots, command.after, command.keys);
    case 'unfreeze':
      return unfreezeSlots(txn, command.epoch, command.slots);
    case 'reject':
      return rejectSlots(txn, command.epoch, command.slots);
    case 'import':
      return importSlots(txn, command.epoch, command.slots, command.data);
    case 'exportpage':
      return exportPage(txn, command.epoch, command.slots, command.after);
    case 'importpart':
      return importPart(txn, command.epoch, command.slots, command.part, command.after, command.data);
    case 'importstatus':
      return importStatus(txn, command.epoch, command.slots);
    case 'importdone':
      return importDone(txn, command.epoch, command.slots, command.parts, command.count);
  }
  throw new Error(`not a move step: ${command.op}`);
}

function bulkResult(text: string): CommandResult {
  return { type: 'bulk', value: Buffer.from(text) };
}
