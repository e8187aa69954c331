/**
 * Drives one slot move of the catalog's move record through its steps (the protocol of
 * ../shared/notes/routing.md; the guards live in node/ownership/move-shard.ts and
 * move-catalog.ts). Resumable from any state of the record, since every step is idempotent:
 *
 *   begun:      FREEZE on A -> EXPORT from A / IMPORT on B, chunk by chunk -> MOVECOMMIT
 *   committed:  RELEASE on A -> MOVEEND
 *   aborting:   REJECT on B -> (MOVEABORT) -> UNFREEZE on A -> MOVEEND
 *
 * A move is aborted only when it cannot go on (A refuses to freeze, B refuses the import, one
 * slot's data exceeds an import); if B already imported something, REJECT is refused and the
 * move is finished instead.
 */
import { CATALOG_SHARD_ID } from '../ownership/catalog.ts';
import type { SlotSet } from '../ownership/slot-set.ts';
import { SlotSet as Slots } from '../ownership/slot-set.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { isMoveRefusal, StepRefused, type ShardClient } from './shard-client.ts';

export interface MoveSpec {
  readonly epoch: number;
  readonly from: string;
  readonly to: string;
  readonly slots: SlotSet;
  readonly state: 'begun' | 'committed' | 'aborting';
}

export interface MoverContext {
  readonly client: ShardClient;
  /** Address hints of a shard's members (re-read on every attempt). */
  readonly addrsOf: (shard: string) => readonly string[];
  readonly log: (line: string) => void;
  /** Called after each committed step (tests stop or kill things here). */
  readonly afterStep?: (step: MoveStep, move: MoveSpec) => Promise<void> | void;
}

export type MoveStep = 'begin' | 'freeze' | 'import' | 'commit' | 'release' | 'reject' | 'unfreeze' | 'end';

export interface MoveOutcome {
  readonly move: MoveSpec;
  readonly result: 'moved' | 'aborted';
  /** FREEZE acknowledged -> RELEASE acknowledged: how long writes to these slots waited, at most. */
  readonly windowMs: number | null;
  readonly why?: string;
}

/** One slot's data exceeded one import: the move cannot go on in any chunking. */
const TOO_LARGE_TEXT = /exceeds one import/;

export async function runMove(ctx: MoverContext, move: MoveSpec): Promise<MoveOutcome> {
  let freezeAtMs: number | null = null;
  let state = move.state;
  if (state === 'begun') {
    const fwd = await forward(ctx, move);
    if (fwd.kind === 'abort') {
      const rolled = await abort(ctx, move);
      if (rolled === 'aborted') return { move, result: 'aborted', windowMs: null, why: fwd.why };
      const again = await forward(ctx, move);
      if (again.kind === 'abort') throw new Error(`move of epoch ${move.epoch} can neither finish (${again.why}) nor abort (the target imported part of it)`);
    }
    freezeAtMs = fwd.kind === 'committed' ? fwd.freezeAtMs : null;
    state = 'committed';
  } else if (state === 'aborting') {
    const rolled = await abort(ctx, move);
    if (rolled === 'aborted') return { move, result: 'aborted', windowMs: null, why: 'resumed an aborting move' };
    const again = await forward(ctx, move);
    if (again.kind === 'abort') throw new Error(`move of epoch ${move.epoch} can neither finish nor abort`);
  }
  await step(ctx, move.from, ['CLUSTER', 'RELEASE', String(move.epoch), move.slots.toBase64()]);
  const windowMs = freezeAtMs === null ? null : Date.now() - freezeAtMs;
  await ctx.afterStep?.('release', move);
  await catalog(ctx, ['CLUSTER', 'MOVEEND', String(move.epoch)]);
  await ctx.afterStep?.('end', move);
  return { move, result: 'moved', windowMs };
}

type Forward = { kind: 'committed'; freezeAtMs: number } | { kind: 'abort'; why: string };

async function forward(ctx: MoverContext, move: MoveSpec): Promise<Forward> {
  const m = String(move.epoch);
  try {
    await step(ctx, move.from, ['CLUSTER', 'FREEZE', m, move.slots.toBase64()]);
  } catch (err) {
    if (err instanceof StepRefused) return { kind: 'abort', why: err.message };
    throw err;
  }
  const freezeAtMs = Date.now();
  await ctx.afterStep?.('freeze', move);
  const chunks: number[][] = [[...move.slots.slots()]];
  while (chunks.length > 0) {
    const chunk = chunks.shift()!;
    const slots = Slots.of(chunk).toBase64();
    let data: Buffer;
    try {
      const r = await step(ctx, move.from, ['CLUSTER', 'EXPORT', m, slots]);
      if (r.kind !== 'string') throw new Error(`EXPORT answered ${r.kind}`);
      data = r.value;
    } catch (err) {
      if (!(err instanceof StepRefused)) throw err;
      if (!TOO_LARGE_TEXT.test(err.reply) || chunk.length === 1) return { kind: 'abort', why: err.message };
      const half = chunk.length >> 1;
      chunks.unshift(chunk.slice(0, half), chunk.slice(half));
      continue;
    }
    try {
      await step(ctx, move.to, ['CLUSTER', 'IMPORT', m, slots, data.toString('base64')]);
    } catch (err) {
      if (err instanceof StepRefused) return { kind: 'abort', why: err.message };
      throw err;
    }
  }
  await ctx.afterStep?.('import', move);
  try {
    await catalog(ctx, ['CLUSTER', 'MOVECOMMIT', m]);
  } catch (err) {
    // Refused only when the record is aborting: someone else decided; REJECT will tell who wins.
    if (isMoveRefusal(err)) return { kind: 'abort', why: err.message };
    throw err;
  }
  await ctx.afterStep?.('commit', move);
  return { kind: 'committed', freezeAtMs };
}

/** 'aborted', or 'finish' when B already imported part of the move (REJECT refused). */
async function abort(ctx: MoverContext, move: MoveSpec): Promise<'aborted' | 'finish'> {
  const m = String(move.epoch);
  try {
    await step(ctx, move.to, ['CLUSTER', 'REJECT', m, move.slots.toBase64()]);
  } catch (err) {
    if (isMoveRefusal(err)) return 'finish';
    throw err;
  }
  await ctx.afterStep?.('reject', move);
  await catalog(ctx, ['CLUSTER', 'MOVEABORT', m]);
  // Only now: B has committed that it will never import this epoch.
  await step(ctx, move.from, ['CLUSTER', 'UNFREEZE', m, move.slots.toBase64()]);
  await ctx.afterStep?.('unfreeze', move);
  await catalog(ctx, ['CLUSTER', 'MOVEEND', m]);
  await ctx.afterStep?.('end', move);
  ctx.log(`move of epoch ${move.epoch} (${move.slots.size} slots, shard ${move.from} -> ${move.to}) rolled back`);
  return 'aborted';
}

function step(ctx: MoverContext, shard: string, args: string[]): Promise<Reply> {
  return ctx.client.call(shard, () => ctx.addrsOf(shard), args);
}

function catalog(ctx: MoverContext, args: string[]): Promise<Reply> {
  return step(ctx, CATALOG_SHARD_ID, args);
}
