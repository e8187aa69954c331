import net from 'node:net';
import tls from 'node:tls';
import { encodeRequest } from './encode.ts';
import { ReplyDecoder, type Reply } from '../shared/protocol/reply-decoder.ts';
import { ClientError, ClientErrorCode } from './errors.ts';
import type { Address } from './address.ts';
import type { AttemptFailure } from './outcome.ts';
import { monoNowMs } from '../shared/mono-clock.ts';

/** One request on its way through a connection. Exactly one of onReply/onFailure is called. */
export interface Request {
  readonly bytes: Buffer;
  onReply(reply: Reply): void;
  onFailure(failure: AttemptFailure): void;
}

interface Entry {
  readonly request: Request;
  /** Set when the caller gave up on it (deadline): it is skipped if unsent, its reply dropped. */
  cancelled: boolean;
  writtenAtMs: number;
}

export interface ConnectionOptions {
  readonly connectTimeoutMs: number;
  readonly attemptTimeoutMs: number;
  /** Sent as AUTH ahead of everything else on the connection. */
  readonly password?: string;
  readonly tls?: tls.ConnectionOptions;
}

/** A handle to cancel a request that is still queued or in flight. */
export interface Ticket {
  cancel(): void;
  /** True once the bytes were handed to the socket. */
  readonly written: boolean;
}

/**
 * One pipelined socket to one address. Requests queued in the same tick go out in one write;
 * replies are matched to requests in order. Any trouble (connect failure, reset, a reply overdue
 * by attemptTimeoutMs, bytes that are not RESP) kills the whole connection: its written requests
 * fail as 'lost' (they may have been applied) and its unwritten ones as 'unsent'. Dropping the
 * connection instead of the single overdue request is deliberate: replies are matched by order,
 * so a stuck or half-open socket cannot be trusted for anything queued behind.
 */
export class Connection {
  readonly address: Address;
  readonly #options: ConnectionOptions;
  readonly #socket: net.Socket;
  readonly #decoder: ReplyDecoder;
  readonly #onDead: (connection: Connection) => void;
  #open = false;
  #dead = false;
  #unsent: Entry[] = [];
  #inFlight: Entry[] = [];
  #inFlightHead = 0;
  #flushScheduled = false;
  /** A reply came on this connection (a refusal of the whole connection comes first). */
  #answered = false;
  /** The server answered -SHUTDOWN: no more writes here (see #retire). */
  #retiring = false;
  #connectTimer: NodeJS.Timeout | null = null;
  #replyTimer: NodeJS.Timeout | null = null;

  constructor(address: Address, options: ConnectionOptions, onDead: (connection: Connection) => void) {
    this.address = address;
    this.#options = options;
    this.#onDead = onDead;
    this.#decoder = new ReplyDecoder({
      onReply: (reply) => this.#reply(reply),
      onFatal: (err) => this.destroy(new ClientError(ClientErrorCode.PROTOCOL, err.message, { cause: err })),
    });
    this.#socket = options.tls === undefined
      ? net.connect({ host: address.host, port: address.port })
      : tls.connect({ ...options.tls, host: address.host, port: address.port });
    this.#socket.setNoDelay(true);
    this.#socket.setKeepAlive(true, 10_000);
    this.#connectTimer = setTimeout(
      () => this.destroy(new ClientError(ClientErrorCode.TIMEOUT, `connect to ${address.key} timed out`)),
      options.connectTimeoutMs,
    );
    this.#connectTimer.unref();
    this.#socket.on(options.tls === undefined ? 'connect' : 'secureConnect', () => this.#connected());
    // AUTH rides first in the pipeline; its reply is not a call's. A refused password shows in the
    // calls behind it, each answered -NOAUTH: a definite error, never retried.
    if (options.password !== undefined) {
      const auth: Request = { bytes: encodeRequest(['AUTH', options.password]), onReply: () => {}, onFailure: () => {} };
      this.#unsent.push({ request: auth, cancelled: false, writtenAtMs: -1 });
    }
    this.#socket.on('data', (chunk: Buffer) => this.#decoder.write(chunk));
    this.#socket.on('error', (err) => this.destroy(err));
    this.#socket.on('close', () => this.destroy(new Error(`connection to ${address.key} closed`)));
  }

  /** Dead, or retiring (the server is stopping): not to be given new requests. */
  get dead(): boolean {
    return this.#dead || this.#retiring;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Requests queued or awaiting a reply. */
  get load(): number {
    return this.#unsent.length + this.#inFlight.length - this.#inFlightHead;
  }

  send(request: Request): Ticket {
    const entry: Entry = { request, cancelled: false, writtenAtMs: -1 };
    if (this.#dead || this.#retiring) {
      queueMicrotask(() => request.onFailure({ kind: 'unsent', error: new Error('connection is closed') }));
    } else {
      this.#unsent.push(entry);
      this.#scheduleFlush();
    }
    return {
      cancel: () => {
        entry.cancelled = true;
      },
      get written() {
        return entry.writtenAtMs >= 0;
      },
    };
  }

  /** Fails everything pending and closes the socket. Idempotent. `neverRead`: the server will run
   * none of the written requests still unanswered (it refused the connection, or is stopping). */
  destroy(error: Error, neverRead = false): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#open = false;
    this.#clearTimers();
    this.#decoder.stop();
    this.#socket.destroy();
    const inFlight = this.#inFlight.slice(this.#inFlightHead);
    const unsent = this.#unsent;
    this.#inFlight = [];
    this.#inFlightHead = 0;
    this.#unsent = [];
    for (const entry of inFlight) if (!entry.cancelled) entry.request.onFailure({ kind: neverRead ? 'unsent' : 'lost', error });
    for (const entry of unsent) if (!entry.cancelled) entry.request.onFailure({ kind: 'unsent', error });
    this.#onDead(this);
  }

  #connected(): void {
    if (this.#dead) return;
    this.#open = true;
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || !this.#open || this.#unsent.length === 0) return;
    this.#flushScheduled = true;
    // setImmediate rather than a microtask: calls issued by the continuations of replies that
    // arrived in one chunk all land in the same batch.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#dead || this.#unsent.length === 0) return;
    const batch = this.#unsent.filter((entry) => !entry.cancelled);
    this.#unsent = [];
    if (batch.length === 0) return;
    const nowMs = monoNowMs();
    for (const entry of batch) {
      entry.writtenAtMs = nowMs;
      this.#inFlight.push(entry);
    }
    this.#socket.write(batch.length === 1 ? batch[0]!.request.bytes : Buffer.concat(batch.map((e) => e.request.bytes)));
    this.#armReplyTimer();
  }

  #reply(reply: Reply): void {
    if (this.#inFlightHead >= this.#inFlight.length) {
      this.destroy(new ClientError(ClientErrorCode.PROTOCOL, `unsolicited reply from ${this.address.key}`));
      return;
    }
    if (!this.#answered && reply.kind === 'error' && reply.word === 'BUSY' && /^max number of clients reached/.test(reply.message)) {
      // A server at its client limit answers a new connection with this one line and closes it
      // unread (node/server/server.ts accept): none of the requests written here ran. Counted as
      // lost they made SETs ERR_OUTCOME_UNKNOWN and INCs end so instead of ERR_TIMEOUT (a review).
      this.destroy(new ClientError(ClientErrorCode.TIMEOUT, `${this.address.key} refused the connection: ${reply.message}`), true);
      return;
    }
    this.#answered = true;
    const entry = this.#inFlight[this.#inFlightHead]!;
    this.#inFlightHead += 1;
    // Compact now and then so the array does not grow with the connection's lifetime.
    if (this.#inFlightHead > 1024 && this.#inFlightHead * 2 > this.#inFlight.length) {
      this.#inFlight = this.#inFlight.slice(this.#inFlightHead);
      this.#inFlightHead = 0;
    }
    if (!entry.cancelled) entry.request.onReply(reply);
    if (reply.kind === 'error' && reply.word === 'SHUTDOWN') this.#retire();
    else if (this.#retiring && this.#inFlightHead >= this.#inFlight.length) this.destroy(new ClientError(ClientErrorCode.TIMEOUT, `${this.address.key} is shutting down`));
  }

  /**
   * The server is stopping: nothing more is written here (new calls get a new connection, the
   * queued ones fail as unsent and go elsewhere), while the replies of those written still come.
   * Each -SHUTDOWN only says its own request did not run: a write behind it may have (a read
   * refused at a node's stop, a proposed write behind it; a review), so those wait for theirs.
   */
  #retire(): void {
    if (this.#retiring || this.#dead) return;
    this.#retiring = true;
    const unsent = this.#unsent;
    this.#unsent = [];
    const error = new ClientError(ClientErrorCode.TIMEOUT, `${this.address.key} is shutting down`);
    for (const entry of unsent) if (!entry.cancelled) entry.request.onFailure({ kind: 'unsent', error });
    // Closed once nothing written here awaits a reply (then, or at the last reply).
    if (this.#inFlightHead >= this.#inFlight.length) this.destroy(error);
  }

  /** One timer for the oldest written request: replies come in order, so if it is overdue the
   * connection is stuck; if it was answered, the timer re-arms for the new oldest. */
  #armReplyTimer(): void {
    if (this.#replyTimer !== null || this.#dead) return;
    const head = this.#inFlight[this.#inFlightHead];
    if (head === undefined) return;
    const waitMs = Math.max(0, head.writtenAtMs + this.#options.attemptTimeoutMs - monoNowMs());
    this.#replyTimer = setTimeout(() => {
      this.#replyTimer = null;
      const current = this.#inFlight[this.#inFlightHead];
      if (current === undefined) return;
      if (current === head || current.writtenAtMs + this.#options.attemptTimeoutMs <= monoNowMs()) {
        this.destroy(new ClientError(ClientErrorCode.TIMEOUT, `no reply from ${this.address.key} within ${this.#options.attemptTimeoutMs} ms`));
        return;
      }
      this.#armReplyTimer();
    }, waitMs);
    this.#replyTimer.unref();
  }

  #clearTimers(): void {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    if (this.#replyTimer !== null) clearTimeout(this.#replyTimer);
    this.#connectTimer = null;
    this.#replyTimer = null;
  }
}
