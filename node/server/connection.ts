/**
 * One client connection: bytes in -> RequestDecoder -> dispatch -> replies out, strictly in
 * request order even when some replies are asynchronous (pipelining). Memory per connection is
 * bounded: the decoder holds at most one request; decoded requests wait (reading paused) instead
 * of running while `pipelineMax` replies are owed or while the replies owed (their size bounded
 * in advance, reply-estimate.ts) and the bytes not yet written would pass half of
 * `outputBytesMax`; a client that takes no bytes for `outputStallMs` while held so, or that
 * gets more than `outputBytesMax` buffered, is dropped. A client that reads its replies is never
 * dropped however large the replies it asks for.
 */
import type { Socket } from 'node:net';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { RequestDecoder, errorReply, type Encoded, type RequestLimits } from '../../shared/protocol/index.ts';
import { dispatch, type ClientContext, type Later, type ServerFacts } from './commands.ts';
import { RequestDeadline } from './request-deadline.ts';
import { replyBytesEstimate } from './reply-estimate.ts';

export interface ConnectionLimits {
  /** Replies not yet written (waiting for a flush, or behind one) before the connection stops reading. Default 1,024. */
  readonly pipelineMax: number;
  /** Reply bytes buffered for a client before it is dropped; requests wait at half of it. Default 8 MiB. */
  readonly outputBytesMax: number;
  /** How long a client whose requests wait for it to read may take no bytes before it is dropped. Default 5,000. */
  readonly outputStallMs?: number;
  /** How long one request may stay incomplete (holding bytes) before the connection is dropped. Default 30,000. */
  readonly requestTimeoutMs: number;
  readonly request?: Partial<RequestLimits>;
  /** A client silent this long is closed; 0 = never. Connections that proved the cluster secret are exempt. Default 0. */
  readonly idleTimeoutMs?: number;
}

/** How long an ended connection may linger before it is destroyed. */
const END_GRACE_MS = 5000;
/**
 * Shutting down: once every accepted request is answered, the connection ends after this long
 * without new bytes (requests read meanwhile are answered -SHUTDOWN): a client that saw one stops
 * writing there, so what it wrote is answered rather than lost in the close.
 */
const SHUTDOWN_QUIET_MS = 50;
/** ... but at most this long after the shutdown began: a client that retries on the same
 * connection at once (as any may) must not keep it open until the server's grace runs out. */
const SHUTDOWN_REFUSING_MS_MAX = 500;
const SHUTDOWN_ERROR = new SeqError(ErrorCode.SHUTTING_DOWN, 'server is shutting down; this request did not run');
const SHUTDOWN_REPLY = errorReply(SHUTDOWN_ERROR);
/** What one outstanding socket write is charged against outputBytesMax besides its bytes. */
const WRITE_OVERHEAD_BYTES = 256;

interface Slot {
  reply: Encoded | undefined;
  close: boolean;
  /** Its reply's bound (reply-estimate.ts), counted as owed until written. */
  readonly estimateBytes: number;
}

/** A decoded request not yet run (the connection owes too much), or a decode error behind it. */
type Held = { readonly args: Buffer[] } | { readonly err: SeqError; readonly fatal: boolean };

export class Connection {
  readonly client: ClientContext;
  private readonly decoder: RequestDecoder;
  private readonly deadline: RequestDeadline;
  private readonly slots: Slot[] = [];
  /** Requests decoded but held back, in order: run as the replies owed shrink. */
  private readonly held: Held[] = [];
  /** Sum of the estimates of the slots not yet written. */
  private owedBytes = 0;
  /** Started while requests are held for output and nothing gets written: a client not reading. */
  private outputStall: NodeJS.Timeout | undefined;
  private paused = false;
  private writesPending = 0;
  private flushQueued = false;
  /** No more requests are read: QUIT, a fatal protocol error, or server shutdown. */
  private draining = false;
  /** The peer half-closed: what it sent is still answered (held requests too), then the end. */
  private inputEnded = false;
  /**
   * The server shuts down: requests read from now on, and those held, are answered -SHUTDOWN
   * without running, so the client knows they did not (dropped unanswered, a SET's client could
   * only report its outcome unknown: a review). Nothing read after a -SHUTDOWN reply runs.
   */
  private refusing = false;
  private refusingSinceMs = 0;
  private lastDataMs = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private onSettled: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    id: number,
    private readonly server: ServerFacts,
    private readonly limits: ConnectionLimits,
  ) {
    this.client = { id, name: null, remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}` };
    this.decoder = new RequestDecoder(
      { onRequest: (args) => this.onRequest(args), onError: (err, fatal) => this.onDecodeError(err, fatal) },
      limits.request,
    );
    socket.setNoDelay(true);
    this.deadline = new RequestDeadline(limits.requestTimeoutMs, () => this.onRequestTimeout());
    socket.on('data', (chunk: Buffer) => {
      if (this.refusing) this.lastDataMs = performance.now();
      this.decoder.write(chunk);
      this.flush(); // one write for every synchronous reply this chunk produced
      if (!this.paused) this.deadline.afterChunk(this.midRequest());
    });
    socket.once('close', () => {
      this.deadline.clear();
      clearTimeout(this.outputStall);
      clearInterval(this.quietTimer);
    });
    socket.on('error', () => socket.destroy());
    if ((limits.idleTimeoutMs ?? 0) > 0) {
      socket.setTimeout(limits.idleTimeoutMs!);
      socket.on('timeout', () => this.onIdle());
    }
    // The peer half-closed (e.g. `nc` after its input): answer what it sent, then end.
    socket.on('end', () => {
      this.inputEnded = true;
      this.flush();
    });
  }

  /**
   * Runs nothing more: requests held or read from now on are answered -SHUTDOWN. Resolves once
   * every accepted request is answered and the socket ended, SHUTDOWN_QUIET_MS after the last
   * bytes read.
   */
  shutdown(): Promise<void> {
    this.refusing = true;
    this.refusingSinceMs = performance.now();
    this.lastDataMs = this.refusingSinceMs;
    if (!this.draining) this.resume();
    return new Promise((resolve) => {
      this.onSettled = resolve;
      this.socket.once('close', resolve);
      this.quietTimer = setInterval(() => this.flush(), SHUTDOWN_QUIET_MS);
      this.quietTimer.unref();
      this.runHeld();
      this.flush();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onRequest(args: Buffer[]): void {
    this.deadline.requestCompleted();
    if (this.draining) return;
    if (this.refusing) {
      this.held.push({ err: SHUTDOWN_ERROR, fatal: false });
      this.runHeld();
      return;
    }
    if (this.held.length === 0) {
      // The common case, nothing held: run it now or hold it.
      const estimateBytes = replyBytesEstimate(args);
      if (this.mayOwe(estimateBytes)) return this.run(args, estimateBytes);
    }
    this.held.push({ args });
    this.runHeld();
  }

  /** Runs held requests in order while the connection may owe more; pauses reading otherwise. */
  private runHeld(): void {
    while (this.held.length > 0 && !this.draining) {
      const next = this.held[0]!;
      if ('err' in next) {
        this.held.shift();
        this.slots.push({ reply: errorReply(next.err), close: next.fatal, estimateBytes: 0 });
        if (next.fatal) this.stopReading();
        continue;
      }
      if (this.refusing) {
        this.held.shift();
        this.slots.push({ reply: SHUTDOWN_REPLY, close: false, estimateBytes: 0 });
        continue;
      }
      const estimateBytes = replyBytesEstimate(next.args);
      if (!this.mayOwe(estimateBytes)) break;
      this.held.shift();
      this.run(next.args, estimateBytes);
    }
    if (this.draining) this.held.length = 0;
    if (this.held.length > 0) this.holdForOutput();
  }

  /**
   * Whether a request whose reply may be `estimateBytes` can run now: under `pipelineMax` replies
   * owed, and the owed and unwritten bytes within half the output bound; a lone request with
   * nothing owed or unwritten always runs (one AUDIT page may alone pass that half).
   */
  private mayOwe(estimateBytes: number): boolean {
    if (this.slots.length >= this.limits.pipelineMax) return false;
    const unwritten = this.socket.writableLength;
    if (this.slots.length === 0 && unwritten === 0) return true;
    return unwritten + this.owedBytes + estimateBytes <= this.limits.outputBytesMax / 2;
  }

  private holdForOutput(): void {
    if (!this.paused) this.pause();
    // Held for bytes the client has not read: it must take some within outputStallMs.
    if (this.outputStall === undefined && this.socket.writableLength > 0) {
      this.outputStall = setTimeout(() => this.dropUnread(), this.limits.outputStallMs ?? 5000);
    }
  }

  private run(args: Buffer[], estimateBytes: number): void {
    const slot: Slot = { reply: undefined, close: false, estimateBytes };
    this.slots.push(slot);
    this.owedBytes += estimateBytes;
    let outcome;
    if (this.server.stats !== undefined) this.server.stats.commandsProcessed++;
    try {
      outcome = dispatch(args, this.client, this.server);
    } catch (error) {
      outcome = { reply: errorReply(new SeqError(ErrorCode.INTERNAL, (error as Error).message)) };
    }
    slot.close = outcome.close === true;
    if (slot.close) this.stopReading();
    if (typeof outcome.reply === 'string' || Buffer.isBuffer(outcome.reply)) {
      slot.reply = outcome.reply; // written by the 'data' handler once the chunk is decoded
      return;
    }
    if (typeof outcome.reply === 'function') {
      this.runLater(slot, outcome.reply);
      return;
    }
    outcome.reply.then(
      (reply) => this.settle(slot, reply),
      (error: Error) => this.settle(slot, errorReply(new SeqError(ErrorCode.INTERNAL, error.message))),
    );
  }

  /** A reply given now is written with the chunk's; one given later settles as a promise's would. */
  private runLater(slot: Slot, later: Later): void {
    let now = true;
    try {
      later((reply) => {
        if (slot.reply !== undefined) return;
        if (now) slot.reply = reply;
        else this.settle(slot, reply);
      });
    } catch (error) {
      if (slot.reply === undefined) slot.reply = errorReply(new SeqError(ErrorCode.INTERNAL, (error as Error).message));
    }
    now = false;
  }

  private settle(slot: Slot, reply: Encoded): void {
    slot.reply = reply;
    // The only reply outstanding (a client waiting for it, as nc and most clients do): nothing
    // could share its write, so it goes now rather than after the next poll phase.
    if (this.slots.length === 1 && this.slots[0] === slot) this.flush();
    else this.scheduleFlush();
  }

  private onDecodeError(err: SeqError, fatal: boolean): void {
    this.deadline.requestCompleted();
    if (this.server.stats !== undefined) this.server.stats.requestErrors++;
    if (this.draining) return;
    // Behind any held request: replies stay in request order.
    this.held.push({ err, fatal });
    if (fatal) this.decoder.stop();
    this.runHeld();
  }

  /**
   * Writes every finished reply at the head of the queue as ONE socket write. The output bound
   * charges each outstanding write a fixed overhead as well as its bytes, so a client that sends
   * many tiny requests and reads nothing is dropped before Node's per-write bookkeeping adds up.
   */
  private flush(): void {
    if (this.socket.destroyed) return;
    let close = false;
    for (;;) {
      const parts: Encoded[] = [];
      while (this.slots.length > 0 && this.slots[0]!.reply !== undefined) {
        const slot = this.slots.shift()!;
        this.owedBytes -= slot.estimateBytes;
        parts.push(slot.reply!);
        if (slot.close) {
          close = true;
          this.slots.length = 0;
          this.held.length = 0;
        }
      }
      if (parts.length > 0) this.write(parts);
      if (this.overOutputBound()) return;
      if (this.held.length === 0) break;
      // Room again: run held requests; their synchronous replies go out in the next write.
      this.runHeld();
      if (this.slots[0]?.reply === undefined) break;
    }
    if (this.paused && this.held.length === 0 && this.slots.length <= this.limits.pipelineMax / 2) this.resume();
    const settled = this.slots.length === 0 && this.held.length === 0;
    const nowMs = performance.now();
    const quiet = this.refusing && (nowMs - this.lastDataMs >= SHUTDOWN_QUIET_MS || nowMs - this.refusingSinceMs >= SHUTDOWN_REFUSING_MS_MAX);
    if (close || ((this.draining || this.inputEnded || quiet) && settled)) this.end();
  }

  /** Drops a client with more than `outputBytesMax` unwritten: it does not read its replies. */
  private overOutputBound(): boolean {
    const outputBytes = this.socket.writableLength + this.writesPending * WRITE_OVERHEAD_BYTES;
    if (outputBytes <= this.limits.outputBytesMax) return false;
    if (this.server.stats !== undefined) this.server.stats.outputBufferClosed++;
    this.socket.destroy();
    return true;
  }

  private write(parts: readonly Encoded[]): void {
    const payload = parts.every((p) => typeof p === 'string')
      ? parts.join('')
      : Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    this.writesPending++;
    this.socket.write(payload, () => {
      this.writesPending--;
      this.onWritten();
    });
  }

  /** Bytes reached the kernel: the client reads. Held requests may run now. */
  private onWritten(): void {
    clearTimeout(this.outputStall);
    this.outputStall = undefined;
    if (this.held.length === 0 || this.socket.destroyed) return;
    this.flush();
  }

  private dropUnread(): void {
    this.outputStall = undefined;
    if (this.held.length === 0 || this.socket.writableLength === 0) return;
    if (this.server.stats !== undefined) this.server.stats.outputBufferClosed++;
    this.socket.destroy();
  }

  /** Bytes of an unfinished request are held, or its header is half read (holds no bytes yet). */
  private midRequest(): boolean {
    return this.decoder.bufferedBytes() > 0 || this.decoder.midRequest;
  }

  /**
   * Flushes once after every reply settled in this turn of the event loop (e.g. one group
   * commit). Not a microtask: the replies of one applied batch settle through promise chains of
   * several hops, and a microtask flush ran between them, one socket write per reply (a top
   * cost of a shard leader in profiles). setImmediate runs right after this I/O phase.
   */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private end(): void {
    clearInterval(this.quietTimer);
    if (this.refusing && !this.draining) {
      // Bytes that arrive after the end are neither run nor answered.
      this.draining = true;
      this.decoder.stop();
    }
    if (!this.socket.writableEnded) {
      this.socket.end();
      // Read (and ignore) until the peer closes, so the socket can finish; bounded in time.
      this.socket.resume();
      setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
    }
    this.onSettled?.();
  }

  /** Idle (no bytes either way) for idleTimeoutMs: closed as Redis's `timeout` does, without a reply. */
  private onIdle(): void {
    if (this.slots.length > 0 || this.server.gate?.isInternal(this.client) === true) return;
    if (this.server.stats !== undefined) this.server.stats.idleClosed++;
    this.socket.destroy();
  }

  private onRequestTimeout(): void {
    if (this.draining) return;
    const message = `request not completed within ${this.limits.requestTimeoutMs} ms`;
    this.held.push({ err: new SeqError(ErrorCode.PROTOCOL, message), fatal: true });
    this.decoder.stop();
    this.runHeld();
    this.flush();
  }

  private stopReading(): void {
    this.draining = true;
    this.decoder.stop();
    this.pause();
  }

  private pause(): void {
    this.deadline.clear();
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (this.draining) return;
    this.paused = false;
    this.socket.resume();
    if (this.midRequest()) this.deadline.start();
  }
}
