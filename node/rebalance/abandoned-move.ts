/**
 * Finishes or rolls back a slot move whose coordinator went away. Only a coordinator (`seqdb
 * rebalance`, `seqdb shard remove`) drives a move, and a killed one left its batch frozen on the
 * source (TRYAGAIN to every INC, SET and GET of up to 1/16 of the keyspace) until someone ran the
 * command again: 31-101 s without an INC served in chaos runs whose shards all had leaders (a
 * chaos review). So the catalog shard's leader watches the move record, and one that has not
 * changed for `idleMs` is taken over (every catalog member watches its own applied copy, so a
 * new leader does not start the wait over: leaders changing every < 30 s kept a batch frozen
 * 44-77 s, another chaos review): resumed from the record exactly as a new `seqdb rebalance`
 * resumes it (mover.ts runMove: forward while `begun`, RELEASE and END once `committed`, REJECT
 * and UNFREEZE when `aborting`). Every step is idempotent and epoch-guarded, so racing a
 * coordinator that was only slow is safe, as two coordinators racing is (coordinator-crash
 * tests); the take-over moves no further batch, the rest of a plan is the operator's to run.
 *
 * Heartbeats: a coordinator says it is alive every ~2 s while it drives a move (mover.ts,
 * SEQDB.MOVEALIVE to every catalog member, kept in memory only). A move whose coordinator was
 * heard and then went silent for `silentMs` (and whose record sat as long) is taken over then,
 * not after idleMs: a killed coordinator froze its batch for the whole 30 s (chaos reviews).
 * Followers keep what they hear too, so a catalog leader elected after the coordinator died
 * sees its silence at once (when heartbeats went to the leader alone, a new leader had heard
 * nothing and waited the whole idleMs). A coordinator never heard here (an older build, which
 * tells the leader alone) still waits idleMs; one heard recently is never taken over sooner.
 */
import { CATALOG_SHARD_ID, catalogFromJson } from '../ownership/catalog.ts';
import type { InternalDialOptions } from '../../shared/security/internal-options.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';
import { SlotSet } from '../ownership/slot-set.ts';
import { ShardClient } from './shard-client.ts';
import { runMove, type MoveSpec } from './mover.ts';
import { nextTurn } from '../../shared/next-turn.ts';

export interface AbandonedMoveOptions {
  /** This node's address: it leads the catalog shard when checking. */
  readonly selfAddr: () => string;
  /** Whether this node leads the catalog shard now. */
  readonly leads: () => boolean;
  readonly dial: InternalDialOptions;
  readonly log: (line: string) => void;
  /** A move record unchanged this long is taken over. Default 30,000 ms. */
  readonly idleMs?: number;
  /** A move whose coordinator's heartbeats stopped this long ago is taken over (see above). Default 6,000 ms. */
  readonly silentMs?: number;
  /**
   * The move record as this node last applied it (epoch and state), read locally: asking CLUSTER
   * MOVE is a log write, one every check on an idle catalog (a review). Only a take-over asks.
   */
  readonly localMove?: () => { readonly epoch: number; readonly state: string } | null;
}

interface MoveRecord {
  readonly epoch: number;
  readonly from: string;
  readonly to: string;
  readonly slots: string;
  readonly state: MoveSpec['state'];
}

export class AbandonedMoves {
  /** The record last seen, and since when (monotonic) it has not changed. */
  private seen: { readonly key: string; readonly sinceMs: number } | null = null;
  private running = false;
  private errorLoggedMs = Number.NEGATIVE_INFINITY;
  private readonly idleMs: number;
  private readonly silentMs: number;
  /** The newest move epoch a coordinator said it drives, and when (monotonic). */
  private heard: { readonly epoch: number; readonly atMs: number } | null = null;

  constructor(private readonly o: AbandonedMoveOptions) {
    this.idleMs = o.idleMs ?? 30_000;
    this.silentMs = Math.min(o.silentMs ?? 6_000, this.idleMs);
  }

  /** A coordinator drives the move of `epoch` (its heartbeat). */
  alive(epoch: number): void {
    if (this.heard === null || epoch >= this.heard.epoch) this.heard = { epoch, atMs: monoNowMs() };
  }

  /** Called every few seconds; takes a move over once its record sat unchanged for idleMs. */
  async check(): Promise<void> {
    if (this.running) return;
    let local;
    try {
      local = this.o.localMove?.();
    } catch {
      return; // the store is closing: the node is stopping
    }
    // Every catalog member watches its locally applied record, leader or not, so a new leader
    // does not start the idle wait over (a chaos review: catalog leader changes every < 30 s kept
    // a killed rebalance's batch frozen 44-62 s).
    const idle = local === undefined ? undefined : this.due(local === null ? null : local);
    if (!this.o.leads()) {
      if (local === undefined) this.seen = null;
      return;
    }
    if (idle === false) return;
    if (idle === true && local != null && this.silentOnly(local)) {
      // Timers run before I/O in a loop turn: after a pause of this loop, heartbeats may be
      // waiting unread in a socket. Read them first (a review: a live coordinator taken over).
      this.running = true;
      await nextTurn();
      this.running = false;
      if (!this.due(local) || !this.o.leads()) return;
    }
    this.running = true;
    const client = new ShardClient({ dial: this.o.dial });
    try {
      await this.checkWith(client);
    } catch (err) {
      // Once a minute: a catalog leader that cannot read its own record would say so every check.
      const now = monoNowMs();
      if (now - this.errorLoggedMs >= 60_000) {
        this.errorLoggedMs = now;
        this.o.log(`abandoned move: ${(err as Error).message}`);
      }
    } finally {
      client.close();
      this.running = false;
    }
  }

  /**
   * Whether the record (null: none) has sat unchanged for idleMs, or for silentMs with its
   * coordinator's heartbeats stopped as long; remembers a new one.
   */
  private due(move: { readonly epoch: number; readonly state: string } | null): boolean {
    if (move === null) {
      this.seen = null;
      return false;
    }
    const key = `${move.epoch}:${move.state}`;
    const now = monoNowMs();
    if (this.seen?.key !== key) {
      this.seen = { key, sinceMs: now };
      return false;
    }
    const unchangedMs = now - this.seen.sinceMs;
    if (unchangedMs >= this.idleMs) return true;
    return this.heard?.epoch === move.epoch && unchangedMs >= this.silentMs && now - this.heard.atMs >= this.silentMs;
  }

  /** Whether the record is due by the silence rule only (not yet idleMs unchanged). */
  private silentOnly(move: { readonly epoch: number; readonly state: string }): boolean {
    return this.seen?.key === `${move.epoch}:${move.state}` && monoNowMs() - this.seen.sinceMs < this.idleMs;
  }

  /** Why a move is taken over (for the log line). */
  private why(epoch: number, unchangedMs: number): string {
    const heard = this.heard?.epoch === epoch ? this.heard : null;
    if (heard !== null && unchangedMs < this.idleMs) return `its coordinator's heartbeats stopped ${Math.round((monoNowMs() - heard.atMs) / 1000)} s ago`;
    return `its record has not changed for ${Math.round(unchangedMs / 1000)} s, its coordinator is gone`;
  }

  private async checkWith(client: ShardClient): Promise<void> {
    const seeds = (): string[] => [this.o.selfAddr()];
    const call = async (args: string[]): Promise<string> => {
      const r = await client.call(CATALOG_SHARD_ID, seeds, args);
      if (r.kind !== 'string') throw new Error(`${args.join(' ')} answered ${r.kind === 'error' ? `${r.word} ${r.message}` : r.kind}`);
      return r.value.toString('utf8');
    };
    const move = (JSON.parse(await call(['CLUSTER', 'MOVE'])) as { move: MoveRecord | null }).move;
    if (!this.due(move) || move === null) return;
    const now = monoNowMs();
    const view = catalogFromJson(await call(['CLUSTER', 'CATALOG']));
    if (view === null) throw new Error('malformed catalog');
    const addrs = new Map(view.shards.map((s) => [s.id, s.addrs]));
    const slots = SlotSet.fromBase64(move.slots);
    if (slots === null) throw new Error(`the move of epoch ${move.epoch} names no slots`);
    this.o.log(`taking over the move of epoch ${move.epoch} (shard ${move.from} -> ${move.to}, ${move.state}): ${this.why(move.epoch, now - (this.seen?.sinceMs ?? now))}`);
    const outcome = await runMove({ client, addrsOf: (shard) => (shard === CATALOG_SHARD_ID ? [this.o.selfAddr(), ...(addrs.get(shard) ?? [])] : addrs.get(shard) ?? []), log: this.o.log }, { ...move, slots });
    this.o.log(`the move of epoch ${move.epoch} was ${outcome.result === 'moved' ? 'finished' : `rolled back (${outcome.why ?? ''})`}; run seqdb rebalance for the rest of its plan`);
    this.seen = null;
  }
}

/** Checks every `everyMs` (default 2,000) on this node; the timer to clear at shutdown, and the watcher (for heartbeats). */
export function watchAbandonedMoves(o: AbandonedMoveOptions, everyMs = 2000): { readonly timer: NodeJS.Timeout; readonly moves: AbandonedMoves } {
  const moves = new AbandonedMoves(o);
  const timer = setInterval(() => void moves.check(), everyMs);
  timer.unref();
  return { timer, moves };
}
