/**
 * Internal cluster commands: they ride the same Raft log as SET/INC/GET and are applied by
 * apply-cluster.ts in the same deterministic step. On the wire they are `CLUSTER <op> ...`:
 *
 *   CLUSTER REGISTER <shard> <host:port,...>   catalog shard: add/refresh a shard (idempotent)
 *   CLUSTER INITSLOTS                          catalog shard: slot table over registered shards, once
 *   CLUSTER CATALOG                            catalog shard: JSON of epoch, shards, their slots
 *   CLUSTER SETSLOTS <shard> <epoch> <base64>  any sharded shard: the slots it owns from `epoch` on
 *   CLUSTER OWNERSHIP                          any shard: JSON of what this shard owns
 *   CLUSTER MOVEBEGIN <from> <to> <base64>     catalog: record a move (move-catalog.ts)
 *   CLUSTER MOVECOMMIT|MOVEABORT|MOVEEND <M>   catalog: advance the move of epoch M
 *   CLUSTER MOVE                               catalog: JSON {epoch, move, draining}
 *   CLUSTER DRAIN|FORGET <shard>               catalog: shard removal
 *   CLUSTER FREEZE|EXPORT|RELEASE|UNFREEZE|REJECT <M> <base64>   a shard's move steps (move-shard.ts)
 *   CLUSTER IMPORT <M> <base64 slots> <base64 data>              the target's move step
 *   CLUSTER EXPORTPAGE <M> <slots> <cursor>                      a page of the source's data
 *   CLUSTER RELEASEPAGE <M> <slots> <cursor> <n>                 RELEASE, n entries deleted a step
 *   CLUSTER IMPORTPART <M> <slots> <k> <cursor> <data>          the target stages part k
 *   CLUSTER IMPORTSTATUS <M> <slots> | IMPORTDONE <M> <slots> <n> <count>   (move-import.ts)
 *   (<cursor>: base64 of the last key before the page, or "-" for the start)
 *   CLUSTER TOKENOPTIONS <retention ms> <tokens max>   any shard: the token options every replica
 *                                              applies from here on (node/state-machine/token-options.ts)
 *   CLUSTER TOKENRULES <version>               any shard: the token eviction rules every replica
 *                                              applies from here on (state-machine/options.ts TOKEN_RULES_LATEST)
 *
 * Accepted from anyone today (see router/DESIGN.md: a cluster secret comes with issue 11).
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { SlotSet } from './slot-set.ts';
import { TOKEN_RULES_LATEST } from '../state-machine/options.ts';

export type ClusterCommand =
  | { readonly type: 'cluster'; readonly op: 'register'; readonly shard: string; readonly addrs: readonly string[] }
  | { readonly type: 'cluster'; readonly op: 'initslots' }
  | { readonly type: 'cluster'; readonly op: 'catalog' }
  | { readonly type: 'cluster'; readonly op: 'setslots'; readonly shard: string; readonly epoch: number; readonly slots: SlotSet }
  | { readonly type: 'cluster'; readonly op: 'ownership' }
  | { readonly type: 'cluster'; readonly op: 'move' }
  | { readonly type: 'cluster'; readonly op: 'movebegin'; readonly from: string; readonly to: string; readonly slots: SlotSet }
  | { readonly type: 'cluster'; readonly op: 'movecommit' | 'moveabort' | 'moveend'; readonly epoch: number }
  | { readonly type: 'cluster'; readonly op: 'drain' | 'forget'; readonly shard: string }
  | { readonly type: 'cluster'; readonly op: MoveStepOp; readonly epoch: number; readonly slots: SlotSet }
  | { readonly type: 'cluster'; readonly op: 'import'; readonly epoch: number; readonly slots: SlotSet; readonly data: Buffer }
  | { readonly type: 'cluster'; readonly op: 'exportpage'; readonly epoch: number; readonly slots: SlotSet; readonly after: Buffer }
  | { readonly type: 'cluster'; readonly op: 'releasepage'; readonly epoch: number; readonly slots: SlotSet; readonly after: Buffer; readonly keys: number }
  | { readonly type: 'cluster'; readonly op: 'importpart'; readonly epoch: number; readonly slots: SlotSet; readonly part: number; readonly after: Buffer; readonly data: Buffer }
  | { readonly type: 'cluster'; readonly op: 'importstatus'; readonly epoch: number; readonly slots: SlotSet }
  | { readonly type: 'cluster'; readonly op: 'importdone'; readonly epoch: number; readonly slots: SlotSet; readonly parts: number; readonly count: number }
  | { readonly type: 'cluster'; readonly op: 'tokenoptions'; readonly tokenRetentionMs: number; readonly tokensMax: number }
  | { readonly type: 'cluster'; readonly op: 'tokenrules'; readonly version: number };

export type MoveStepOp = 'freeze' | 'export' | 'release' | 'unfreeze' | 'reject';
const MOVE_STEP_OPS: readonly string[] = ['freeze', 'export', 'release', 'unfreeze', 'reject'];

/**
 * Most bytes of one IMPORT / IMPORTPART data argument. A page is at most SLOT_DATA_BYTES_MAX
 * (40 KiB, slot-data.ts); as base64 inside the log entry's JSON that is about 55 KiB, well within
 * the client protocol's 64 KiB request and Raft's 1 MiB maxMsgBytes (node/replication/raft-node.ts).
 */
export const IMPORT_DATA_BYTES_MAX = 48 * 1024;
/** Most entries one RELEASEPAGE deletes (move-shard.ts releasePage): ~13 us each, ~0.9 s in all. */
export const RELEASE_PAGE_KEYS_MAX = 65_536;
/** Most bytes of an export cursor (a key: tag, two length-prefixed names, a token). */
const CURSOR_BYTES_MAX = 1024;

/** Shard ids as `seqdb node --shard` accepts them. */
export const SHARD_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const ADDRESS = /^[A-Za-z0-9_.:[\]-]{1,80}:\d{1,5}$/;
/** Addresses a registration may carry (members of one shard). */
export const REGISTER_ADDRS_MAX = 16;

export function isValidShardId(text: string): boolean {
  return SHARD_ID.test(text);
}

/** `CLUSTER ...` arguments (args[0] is "cluster") -> command; throws SeqError on bad input. */
export function parseClusterCommand(args: readonly Buffer[]): ClusterCommand {
  const op = args[1]?.toString('latin1').toLowerCase();
  const text = (i: number): string => args[i]!.toString('latin1');
  const arity = (n: number): void => {
    if (args.length !== n) throw new SeqError(ErrorCode.WRONG_ARITY, `wrong number of arguments for 'cluster|${op}'`);
  };
  switch (op) {
    case 'register': {
      arity(4);
      const shard = shardArg(text(2));
      const addrs = text(3) === '' ? [] : text(3).split(',');
      if (addrs.length > REGISTER_ADDRS_MAX || !addrs.every((a) => ADDRESS.test(a))) throw syntax('bad address list');
      return { type: 'cluster', op, shard, addrs: [...new Set(addrs)].sort() };
    }
    case 'initslots':
    case 'catalog':
    case 'ownership':
    case 'move':
      arity(2);
      return { type: 'cluster', op };
    case 'movebegin': {
      arity(5);
      return { type: 'cluster', op, from: shardArg(text(2)), to: shardArg(text(3)), slots: slotsArg(text(4)) };
    }
    case 'movecommit':
    case 'moveabort':
    case 'moveend':
      arity(3);
      return { type: 'cluster', op, epoch: epochArg(text(2)) };
    case 'drain':
    case 'forget':
      arity(3);
      return { type: 'cluster', op, shard: shardArg(text(2)) };
    case 'import': {
      arity(5);
      return { type: 'cluster', op, epoch: epochArg(text(2)), slots: slotsArg(text(3)), data: dataArg(text(4)) };
    }
    case 'exportpage':
      arity(5);
      return { type: 'cluster', op, epoch: epochArg(text(2)), slots: slotsArg(text(3)), after: cursorArg(text(4)) };
    case 'releasepage': {
      arity(6);
      const keys = positiveArg(text(5));
      if (keys > RELEASE_PAGE_KEYS_MAX) throw syntax(`more than ${RELEASE_PAGE_KEYS_MAX} entries a page`);
      return { type: 'cluster', op, epoch: epochArg(text(2)), slots: slotsArg(text(3)), after: cursorArg(text(4)), keys };
    }
    case 'importpart':
      arity(7);
      return { type: 'cluster', op, epoch: epochArg(text(2)), slots: slotsArg(text(3)), part: countArg(text(4)), after: cursorArg(text(5)), data: dataArg(text(6)) };
    case 'importstatus':
      arity(4);
      return { type: 'cluster', op, epoch: epochArg(text(2)), slots: slotsArg(text(3)) };
    case 'importdone':
      arity(6);
      return { type: 'cluster', op, epoch: epochArg(text(2)), slots: slotsArg(text(3)), parts: countArg(text(4)), count: countArg(text(5)) };
    case 'tokenoptions':
      arity(4);
      return { type: 'cluster', op, tokenRetentionMs: positiveArg(text(2)), tokensMax: positiveArg(text(3)) };
    case 'tokenrules':
      arity(3);
      // A version this build does not know cannot be applied as its writers meant: refused at
      // decode, so a replica stops at such an entry instead of applying other rules than its peers.
      return { type: 'cluster', op, version: rulesArg(text(2)) };
    case 'setslots': {
      arity(5);
      const shard = shardArg(text(2));
      const epochText = text(3);
      if (!/^[1-9][0-9]{0,14}$/.test(epochText)) throw syntax('bad epoch');
      const slots = SlotSet.fromBase64(text(4));
      if (slots === null) throw syntax('bad slot bitmap');
      return { type: 'cluster', op, shard, epoch: Number(epochText), slots };
    }
    default:
      if (op !== undefined && MOVE_STEP_OPS.includes(op)) {
        arity(4);
        return { type: 'cluster', op: op as MoveStepOp, epoch: epochArg(text(2)), slots: slotsArg(text(3)) };
      }
      throw new SeqError(ErrorCode.UNKNOWN_COMMAND, `unknown subcommand for 'cluster'`);
  }
}

/** The wire arguments of a command (what a peer or agent sends). */
export function clusterArgs(command: ClusterCommand): string[] {
  switch (command.op) {
    case 'register':
      return ['CLUSTER', 'REGISTER', command.shard, command.addrs.join(',')];
    case 'setslots':
      return ['CLUSTER', 'SETSLOTS', command.shard, String(command.epoch), command.slots.toBase64()];
    case 'movebegin':
      return ['CLUSTER', 'MOVEBEGIN', command.from, command.to, command.slots.toBase64()];
    case 'movecommit':
    case 'moveabort':
    case 'moveend':
      return ['CLUSTER', command.op.toUpperCase(), String(command.epoch)];
    case 'drain':
    case 'forget':
      return ['CLUSTER', command.op.toUpperCase(), command.shard];
    case 'import':
      return ['CLUSTER', 'IMPORT', String(command.epoch), command.slots.toBase64(), command.data.toString('base64')];
    case 'exportpage':
      return ['CLUSTER', 'EXPORTPAGE', String(command.epoch), command.slots.toBase64(), cursorText(command.after)];
    case 'releasepage':
      return ['CLUSTER', 'RELEASEPAGE', String(command.epoch), command.slots.toBase64(), cursorText(command.after), String(command.keys)];
    case 'importpart':
      return ['CLUSTER', 'IMPORTPART', String(command.epoch), command.slots.toBase64(), String(command.part), cursorText(command.after), command.data.toString('base64')];
    case 'importstatus':
      return ['CLUSTER', 'IMPORTSTATUS', String(command.epoch), command.slots.toBase64()];
    case 'importdone':
      return ['CLUSTER', 'IMPORTDONE', String(command.epoch), command.slots.toBase64(), String(command.parts), String(command.count)];
    case 'tokenoptions':
      return ['CLUSTER', 'TOKENOPTIONS', String(command.tokenRetentionMs), String(command.tokensMax)];
    case 'tokenrules':
      return ['CLUSTER', 'TOKENRULES', String(command.version)];
    case 'freeze':
    case 'export':
    case 'release':
    case 'unfreeze':
    case 'reject':
      return ['CLUSTER', command.op.toUpperCase(), String(command.epoch), command.slots.toBase64()];
    default:
      return ['CLUSTER', command.op.toUpperCase()];
  }
}

/**
 * Log encoding: u8 0xC1 | u64 timeMs | the wire arguments as JSON. A distinct first byte from the
 * data-command format (node/state-machine/codec.ts), so decodeCommand can branch on it.
 */
export const CLUSTER_FORMAT = 0xc1;

export function encodeClusterCommand(command: ClusterCommand, timeMs: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(clusterArgs(command)));
  const out = Buffer.allocUnsafe(9 + json.length);
  out.writeUInt8(CLUSTER_FORMAT, 0);
  out.writeBigUInt64BE(BigInt(timeMs), 1);
  json.copy(out, 9);
  return out;
}

export function decodeClusterCommand(bytes: Uint8Array): { command: ClusterCommand; timeMs: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 9 || buf[0] !== CLUSTER_FORMAT) throw new SeqError(ErrorCode.INTERNAL, 'corrupt cluster command');
  const timeMs = Number(buf.readBigUInt64BE(1));
  let args: unknown;
  try {
    args = JSON.parse(buf.subarray(9).toString('utf8'));
  } catch {
    throw new SeqError(ErrorCode.INTERNAL, 'corrupt cluster command');
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new SeqError(ErrorCode.INTERNAL, 'corrupt cluster command');
  return { command: parseClusterCommand(args.map((a: string) => Buffer.from(a, 'latin1'))), timeMs };
}

function shardArg(text: string): string {
  if (!isValidShardId(text)) throw syntax('bad shard id');
  return text;
}

function epochArg(text: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw syntax('bad epoch');
  return Number(text);
}

function dataArg(text: string): Buffer {
  const data = Buffer.from(text, 'base64');
  if (data.toString('base64') !== text) throw syntax('bad slot data');
  if (data.length > IMPORT_DATA_BYTES_MAX) throw syntax(`slot data over ${IMPORT_DATA_BYTES_MAX} bytes`);
  return data;
}

function rulesArg(text: string): number {
  const version = positiveArg(text);
  if (version > TOKEN_RULES_LATEST) throw syntax(`token rules ${version} are newer than this build's (${TOKEN_RULES_LATEST})`);
  return version;
}

function positiveArg(text: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw syntax('want a positive integer');
  return Number(text);
}

function countArg(text: string): number {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(text)) throw syntax('bad count');
  return Number(text);
}

/** An export cursor on the wire: base64 of a key, or "-" for the start of the data. */
export function cursorText(after: Buffer): string {
  return after.length === 0 ? '-' : after.toString('base64');
}

function cursorArg(text: string): Buffer {
  if (text === '-') return Buffer.alloc(0);
  const key = Buffer.from(text, 'base64');
  if (key.length === 0 || key.length > CURSOR_BYTES_MAX || key.toString('base64') !== text) throw syntax('bad cursor');
  return key;
}

function slotsArg(text: string): SlotSet {
  const slots = SlotSet.fromBase64(text);
  if (slots === null) throw syntax('bad slot bitmap');
  return slots;
}

function syntax(what: string): SeqError {
  return new SeqError(ErrorCode.SYNTAX, `syntax error: ${what}`);
}
