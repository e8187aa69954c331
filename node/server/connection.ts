/**
 * One client connection: bytes in -> RequestDecoder -> dispatch -> replies out, strictly in
 * request order even when some replies are asynchronous (pipelining). Memory per connection is
 * bounded: the decoder holds at most one request, at most `pipelineMax` replies wait (reading
 * pauses beyond that), and a client that does not read its replies is dropped once more than
 * `outputBytesMax` are buffered for it.
 */
import type { Socket } from 'node:net';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { RequestDecoder, errorReply, type Encoded, type RequestLimits } from '../../shared/protocol/index.ts';
import { dispatch, type ClientContext, type ServerFacts } from './commands.ts';
import { RequestDeadline } from './request-deadline.ts';

export interface ConnectionLimits {
  /** Replies not yet written (waiting for a flush, or behind one) before the connection stops reading. Default 1,024. */
  readonly pipelineMax: number;
  /** Reply bytes buffered for a client before it is dropped. Default 8 MiB. */
  readonly outputBytesMax: number;
  /** How long one request may stay incomplete (holding bytes) before the connection is dropped. Default 30,000. */
  readonly requestTimeoutMs: number;
  readonly request?: Partial<RequestLimits>;
  /** A client silent this long is closed; 0 = never. Connections that proved the cluster secret are exempt. Default 0. */
  readonly idleTimeoutMs?: number;
}

/** How long an ended connection may linger before it is destroyed. */
const END_GRACE_MS = 5000;
/** What one outstanding socket write is charged against outputBytesMax besides its bytes. */
const WRITE_OVERHEAD_BYTES = 256;

interface Slot {
  reply: Encoded | undefined;
  close: boolean;
}

export class Connection {
  readonly client: ClientContext;
  private readonly decoder: RequestDecoder;
  private readonly deadline: RequestDeadline;
  private readonly slots: Slot[] = [];
  private paused = false;
  private writesPending = 0;
  private flushQueued = false;
  /** No more requests are read: QUIT, a fatal protocol error, or server shutdown. */
  private draining = false;
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
      this.decoder.write(chunk);
      this.flush(); // one write for every synchronous reply this chunk produced
      if (!this.paused) this.deadline.afterChunk(this.decoder.bufferedBytes() > 0);
    });
    socket.once('close', () => this.deadline.clear());
    socket.on('error', () => socket.destroy());
    if ((limits.idleTimeoutMs ?? 0) > 0) {
      socket.setTimeout(limits.idleTimeoutMs!);
      socket.on('timeout', () => this.onIdle());
    }
    // The peer half-closed (e.g. `nc` after its input): answer what it sent, then end.
    socket.on('end', () => {
      this.draining = true;
      this.flush();
    });
  }

  /** Stops reading; resolves once every accepted request is answered and the socket ended. */
  shutdown(): Promise<void> {
    this.stopReading();
    return new Promise((resolve) => {
      this.onSettled = resolve;
      this.socket.once('close', resolve);
      this.flush();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onRequest(args: Buffer[]): void {
    this.deadline.requestCompleted();
    if (this.draining) return;
    const slot: Slot = { reply: undefined, close: false };
    this.slots.push(slot);
    // Replies waiting behind a slow one count too: a flood of PINGs behind an INC is bounded.
    if (this.slots.length >= this.limits.pipelineMax) this.pause();
    let outcome;
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
    outcome.reply.then(
      (reply) => this.settle(slot, reply),
      (error: Error) => this.settle(slot, errorReply(new SeqError(ErrorCode.INTERNAL, error.message))),
    );
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
    this.slots.push({ reply: errorReply(err), close: fatal });
    if (fatal) this.stopReading();
  }

  /**
   * Writes every finished reply at the head of the queue as ONE socket write. The output bound
   * charges each outstanding write a fixed overhead as well as its bytes, so a client that sends
   * many tiny requests and reads nothing is dropped before Node's per-write bookkeeping adds up.
   */
  private flush(): void {
    if (this.socket.destroyed) return;
    const parts: Encoded[] = [];
    let close = false;
    while (this.slots.length > 0 && this.slots[0]!.reply !== undefined) {
      const slot = this.slots.shift()!;
      parts.push(slot.reply!);
      if (slot.close) {
        close = true;
        this.slots.length = 0;
      }
    }
    if (parts.length > 0) this.write(parts);
    if (this.paused && this.slots.length <= this.limits.pipelineMax / 2) this.resume();
    const outputBytes = this.socket.writableLength + this.writesPending * WRITE_OVERHEAD_BYTES;
    if (outputBytes > this.limits.outputBytesMax) {
      if (this.server.stats !== undefined) this.server.stats.outputBufferClosed++;
      this.socket.destroy(); // does not read its replies: drop it, never let it grow
      return;
    }
    if (close || (this.draining && this.slots.length === 0)) this.end();
  }

  private write(parts: readonly Encoded[]): void {
    const payload = parts.every((p) => typeof p === 'string')
      ? parts.join('')
      : Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    this.writesPending++;
    this.socket.write(payload, () => this.writesPending--);
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
    this.slots.push({ reply: errorReply(new SeqError(ErrorCode.PROTOCOL, message)), close: true });
    this.stopReading();
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
    if (this.decoder.bufferedBytes() > 0) this.deadline.start();
  }
}
