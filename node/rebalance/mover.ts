/**
 * Drives one slot move of the catalog's move record through its steps (the protocol of
 * ../shared/notes/routing.md; the guards live in node/ownership/move-shard.ts and
 * move-catalog.ts). Resumable from any state of the record, since every step is idempotent:
 *
 *   begun:      FREEZE on A -> EXPORTPAGE from A / IMPORTPART on B, page by page ->
 *               IMPORTDONE on B -> MOVECOMMIT
 *   committed:  RELEASEPAGE on A, page by page (RELEASE on older shards) -> MOVEEND
 *   aborting:   REJECT on B -> (MOVEABORT) -> UNFREEZE on A -> MOVEEND
 *
 * A move is aborted only when it cannot go on (A refuses to freeze, B refuses the import); if B
 * already imported it, REJECT is refused and the move is finished instead. Data of any size
 * moves: it travels in pages staged on B, and B owns nothing until IMPORTDONE.
 */
import { CATALOG_SHARD_ID, catalogFromJson } from '../ownership/catalog.ts';
import { cursorText } from '../ownership/cluster-command.ts';
import { IMPORT_ORDER_TEXT } from '../ownership/move-import.ts';
import type { SlotSet } from '../ownership/slot-set.ts';
import type { Reply } from '../../shared/protocol/index.ts';
import { isMoveRefusal, StepRefused, type ShardClient } from './shard-client.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

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
  /**
   * How long a release begun in pages waits for the source to take RELEASEPAGE again after a
   * FEATUREOFF (a leader elected meanwhile has not heard from every member yet). Default 15,000.
   */
  readonly releasePageOffWaitMs?: number;
}

export type MoveStep = 'begin' | 'freeze' | 'part' | 'import' | 'commit' | 'release' | 'reject' | 'unfreeze' | 'end';

export interface MoveOutcome {
  readonly move: MoveSpec;
  readonly result: 'moved' | 'aborted';
  /** FREEZE acknowledged -> RELEASE acknowledged: how long writes to these slots waited, at most. */
  readonly windowMs: number | null;
  readonly why?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rounds of a chunked import interrupted by another coordinator's parts before giving up. */
const IMPORT_ROUNDS_MAX = 5;

/**
 * Copies the frozen data A -> B in pages (node/ownership/move-import.ts), resuming after what B
 * already staged: IMPORTSTATUS, then EXPORTPAGE / IMPORTPART per page, then IMPORTDONE. Null when
 * B owns S at M; else why the move must be aborted (a guard refused a step).
 */
async function copyData(ctx: MoverContext, move: MoveSpec): Promise<string | null> {
  const m = String(move.epoch);
  const slots = move.slots.toBase64();
  for (let round = 0; round < IMPORT_ROUNDS_MAX; round++) {
    try {
      const status = items(await step(ctx, move.to, ['CLUSTER', 'IMPORTSTATUS', m, slots]));
      if (int(status[0]) === 1) return null;
      let parts = int(status[1]);
      let count = int(status[3]);
      let cursor = bytes(status[2]);
      const exportPage = (after: Buffer): Promise<Reply> => step(ctx, move.from, ['CLUSTER', 'EXPORTPAGE', m, slots, cursorText(after)]);
      // The next page is read from A while this one is staged on B: two shards' log commits at
      // once instead of in turn, and the slots are frozen all along (a page reads only a frozen
      // slot's data, so where it starts is known as soon as the page before it is).
      let next = exportPage(cursor);
      for (;;) {
        const page = items(await next);
        const entries = int(page[1]);
        const done = int(page[3]) === 1;
        if (!done) next = settledLater(exportPage(entries > 0 ? bytes(page[2]) : cursor));
        if (entries > 0) {
          const data = bytes(page[0]).toString('base64');
          await step(ctx, move.to, ['CLUSTER', 'IMPORTPART', m, slots, String(parts), cursorText(cursor), data]);
          parts++;
          count += entries;
          cursor = bytes(page[2]);
          await ctx.afterStep?.('part', move);
        }
        if (done) break;
      }
      await step(ctx, move.to, ['CLUSTER', 'IMPORTDONE', m, slots, String(parts), String(count)]);
      return null;
    } catch (err) {
      if (!(err instanceof StepRefused)) throw err;
      if (err.reply.includes(IMPORT_ORDER_TEXT)) {
        ctx.log(`move of epoch ${move.epoch}: import parts interrupted (${err.reply}); resuming from the target's staged parts`);
        continue;
      }
      return err.message;
    }
  }
  throw new Error(`move of epoch ${move.epoch}: the chunked import was interrupted ${IMPORT_ROUNDS_MAX} times (another coordinator running?)`);
}

/** `p`, with its rejection seen now too: it may be abandoned (this round failed first) unawaited. */
function settledLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function items(r: Reply): Reply[] {
  if (r.kind !== 'array') throw new Error(`expected an array reply, got ${r.kind}`);
  return r.items;
}

function int(r: Reply | undefined): number {
  if (r?.kind !== 'integer') throw new Error(`expected an integer reply, got ${r?.kind}`);
  return Number(r.value);
}

function bytes(r: Reply | undefined): Buffer {
  if (r?.kind !== 'string') throw new Error(`expected a bulk reply, got ${r?.kind}`);
  return r.value;
}

/**
 * Another coordinator (the catalog leader's take-over, abandoned-move.ts) may have
 * settled this move while this one was slow; then the record of epoch M is gone and the slot
 * table says which way it went. Null while the record of M is still there.
 */
async function settledElsewhere(ctx: MoverContext, move: MoveSpec): Promise<MoveOutcome | null> {
  const status = await catalog(ctx, ['CLUSTER', 'MOVE']);
  if (status.kind !== 'string') return null;
  const record = (JSON.parse(status.value.toString('utf8')) as { move: { epoch: number } | null }).move;
  if (record !== null && record.epoch === move.epoch) return null;
  const view = await catalog(ctx, ['CLUSTER', 'CATALOG']);
  if (view.kind !== 'string') return null;
  const first = move.slots.slots().next().value;
  const owner = catalogFromJson(view.value.toString('utf8'))?.shards.find((sh) => first !== undefined && sh.slots.has(first))?.id;
  ctx.log(`move of epoch ${move.epoch} was settled by another coordinator (slot ${first} now on shard ${owner ?? '?'})`);
  return owner === move.to ? { move, result: 'moved', windowMs: null } : { move, result: 'aborted', windowMs: null, why: 'rolled back by another coordinator' };
}

/** How often a coordinator tells the catalog members it still drives its move (abandoned-move.ts). */
const HEARTBEAT_EVERY_MS = 2000;

/**
 * Tells every catalog member, now and every HEARTBEAT_EVERY_MS until stopped, that this
 * coordinator drives the move of `epoch`, so that its death is noticed in seconds. Every member,
 * not only the leader: a catalog leader that took over after this coordinator died has heard it
 * as a follower, so it sees the silence at once instead of waiting out the idle rule (30 s).
 * Best effort: a lost or refused heartbeat (an older build) only leaves the take-over to the
 * idle rule.
 */
function heartbeat(ctx: MoverContext, epoch: number): () => void {
  // Per member: one that hangs (stopped, cut off) must not hold back the beats to the others, the
  // leader's among them, for the request timeout (5 s, near the 6 s of silence that starts a
  // take-over of a coordinator alive all along).
  const inFlight = new Set<string>();
  const args = ['SEQDB.MOVEALIVE', String(epoch)];
  const beat = (): void => {
    for (const addr of ctx.addrsOf(CATALOG_SHARD_ID)) {
      if (inFlight.has(addr)) continue;
      inFlight.add(addr);
      void ctx.client.once(addr, args).catch(() => null).finally(() => inFlight.delete(addr));
    }
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export async function runMove(ctx: MoverContext, move: MoveSpec): Promise<MoveOutcome> {
  const stop = heartbeat(ctx, move.epoch);
  try {
    return await runMoveOnce(ctx, move);
  } catch (err) {
    // Only a refusal (or a move that can go neither way): what a move settled elsewhere produces.
    if (!(err instanceof StepRefused) && !/can neither finish/.test((err as Error).message)) throw err;
    const settled = await settledElsewhere(ctx, move).catch(() => null);
    if (settled !== null) return settled;
    throw err;
  } finally {
    stop();
  }
}

async function runMoveOnce(ctx: MoverContext, move: MoveSpec): Promise<MoveOutcome> {
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
  let windowMs: number | null = null;
  await release(ctx, move, () => {
    windowMs = freezeAtMs === null ? null : monoNowMs() - freezeAtMs;
  });
  await ctx.afterStep?.('release', move);
  await catalog(ctx, ['CLUSTER', 'MOVEEND', String(move.epoch)]);
  await ctx.afterStep?.('end', move);
  return { move, result: 'moved', windowMs };
}

/**
 * Entries one RELEASEPAGE deletes: ~13 us each on every replica (bench/slot-move-scan.ts), so an
 * apply step of 40-50 ms, where RELEASE held the source's writes 1.7 s for 126,000 entries.
 */
const RELEASE_PAGE_KEYS = 2048;
/** Pages of one release before giving up (each deletes RELEASE_PAGE_KEYS or ends it): 2 billion entries. */
const RELEASE_PAGES_MAX = 1_000_000;
/**
 * How long a release that had begun in pages waits for RELEASEPAGE to be taken again: a leader
 * elected meanwhile answers FEATUREOFF until it has heard from every member (peer-features.ts),
 * and RELEASE after a first page deletes nothing.
 */
const RELEASE_PAGE_OFF_WAIT_MS = 15_000;
const RELEASE_PAGE_OFF_RETRY_MS = 250;

/**
 * RELEASE on A, in pages (RELEASEPAGE) until A holds none of S's data; `released` is called once
 * A no longer owns S (after the first page). A shard that cannot run RELEASEPAGE (FEATUREOFF: a
 * member of an older build; or an older leader, which does not know it) releases in one step.
 */
async function release(ctx: MoverContext, move: MoveSpec, released: () => void): Promise<void> {
  const m = String(move.epoch);
  const slots = move.slots.toBase64();
  let cursor: Buffer = Buffer.alloc(0);
  let offSinceMs: number | null = null;
  for (let page = 0; page < RELEASE_PAGES_MAX;) {
    let reply: Reply;
    try {
      reply = await step(ctx, move.from, ['CLUSTER', 'RELEASEPAGE', m, slots, cursorText(cursor), String(RELEASE_PAGE_KEYS)]);
    } catch (err) {
      if (!featureOff(err)) throw err;
      if (page > 0) {
        offSinceMs ??= monoNowMs();
        if (monoNowMs() - offSinceMs < (ctx.releasePageOffWaitMs ?? RELEASE_PAGE_OFF_WAIT_MS)) {
          await sleep(RELEASE_PAGE_OFF_RETRY_MS);
          continue;
        }
        // RELEASE finds S released and does nothing: the rest stays, inert, until an import of
        // those slots here deletes it first (the series expiry entries went first: slot-data.ts).
        ctx.log(`move of epoch ${move.epoch}: shard ${move.from} stopped taking RELEASEPAGE (${err.reply}); the rest of the moved data stays there, unserved`);
      }
      await step(ctx, move.from, ['CLUSTER', 'RELEASE', m, slots]);
      if (page === 0) released();
      return;
    }
    offSinceMs = null;
    if (page === 0) released();
    const out = items(reply);
    if (int(out[3]) === 1) return;
    cursor = bytes(out[2]);
    page++;
  }
  throw new Error(`move of epoch ${move.epoch}: the release of shard ${move.from}'s data did not end within ${RELEASE_PAGES_MAX} pages`);
}

/** The source cannot run RELEASEPAGE: FEATUREOFF from a leader, unknown to an older one. */
function featureOff(err: unknown): err is StepRefused {
  return err instanceof StepRefused && (err.reply.startsWith('-FEATUREOFF') || err.reply.includes('unknown subcommand'));
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
  const freezeAtMs = monoNowMs();
  await ctx.afterStep?.('freeze', move);
  const copied = await copyData(ctx, move);
  if (copied !== null) return { kind: 'abort', why: copied };
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
