/**
 * One pipelined connection from a router to a storage node: requests go out in order, replies
 * are matched to them in order (RESP guarantees it). A request whose own deadline passes fails
 * alone with 'timeout' (the forwarder retries it, INCs with their token) and keeps its place, so
 * its late reply is still matched to it and dropped: the other clients' requests on the
 * connection are not disturbed. Only when the oldest request has waited both its own timeout and
 * `stallMs` is the node deemed stuck: the connection is dropped and every request on it fails
 * with 'timeout'.
 */
import type { Socket } from 'node:net';
import { ReplyDecoder, type Reply } from '../shared/protocol/index.ts';
import type { ClusterSecret } from '../shared/security/cluster-proof.ts';
import { InternalHandshake } from '../shared/security/internal-handshake.ts';
import { dial, type TlsConfig } from '../shared/security/tls-config.ts';
import { monoNowMs } from '../shared/mono-clock.ts';

/**
 * Why a request got no reply: 'unreachable' (never written: certainly not executed), 'lost'
 * (the connection broke after sending: may have executed), 'timeout' (same), 'busy' (not sent).
 */
export type SendFailure = 'unreachable' | 'lost' | 'timeout' | 'busy';
export type SendOutcome = { readonly ok: true; readonly reply: Reply } | { readonly ok: false; readonly why: SendFailure };

interface Pending {
  readonly resolve: (o: SendOutcome) => void;
  readonly deadlineMs: number;
  readonly sentMs: number;
  /** Its outcome was given (its deadline passed): the reply, when it comes, is dropped. */
  settled: boolean;
  /** A handshake step: its timeout ends the connection (nothing may be sent without it). */
  readonly fatal: boolean;
}

export interface NodeConnectionOptions {
  /** Requests in flight on this connection beyond which sends fail with 'busy'. Default 4096. */
  readonly inflightMax?: number;
  /**
   * How long the oldest request may wait for its reply, once past its own timeout, before the
   * node is deemed stuck and the connection dropped (a request that alone asked for less fails
   * alone; its reply is skipped when it comes). Default 2000 ms.
   */
  readonly stallMs?: number;
  /**
   * The dialer's cluster name: the first request on the connection is `SEQDB.IDENT <cluster>`,
   * and a node of another cluster (answering -WRONGCLUSTER, then closing before it runs
   * anything else) is treated as unreachable. A node of a build without IDENT is used as
   * before. Default: not checked.
   */
  readonly cluster?: string;
  /** TCP connect timeout. Default 1000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Prove the cluster secret on connect (shared/security/internal-handshake.ts) and send nothing
   * else until the node proved it too; a node that cannot is treated as unreachable. Default: none.
   */
  readonly clusterSecret?: ClusterSecret;
  /** Connect over TLS. Default: plain TCP. */
  readonly tls?: TlsConfig;
  /** Where refused handshakes are logged. Default: stderr. */
  readonly log?: (line: string) => void;
}

export class NodeConnection {
  private readonly socket: Socket;
  private readonly pending: Pending[] = [];
  private readonly decoder: ReplyDecoder;
  private readonly inflightMax: number;
  private readonly stallMs: number;
  private connected = false;
  private dead = false;
  private readonly timer: NodeJS.Timeout;
  /** Requests written only once the cluster handshake completed (null: none pending, write at once). */
  private held: Buffer[] | null = null;
  /** Requests waiting for the end of this poll phase (see queueWrite). */
  private readonly outbound: Buffer[] = [];

  constructor(readonly address: string, options: NodeConnectionOptions = {}, private readonly onDead: () => void = () => {}) {
    this.inflightMax = options.inflightMax ?? 4096;
    this.stallMs = options.stallMs ?? 2000;
    const at = address.lastIndexOf(':');
    this.socket = dial(address.slice(0, at), Number(address.slice(at + 1)), options.tls);
    this.decoder = new ReplyDecoder({
      onReply: (reply) => this.settle(this.pending.shift(), { ok: true, reply }),
      onFatal: () => this.kill(),
    });
    const connectTimer = setTimeout(() => this.kill(), options.connectTimeoutMs ?? 1000);
    this.socket.once('connect', () => {
      this.connected = true;
      clearTimeout(connectTimer);
    });
    this.socket.on('data', (chunk: Buffer) => this.decoder.write(chunk));
    this.socket.on('error', () => this.kill());
    this.socket.on('close', () => {
      clearTimeout(connectTimer);
      this.kill();
    });
    // Deadlines are checked on a coarse tick: one timer per connection, not per request.
    this.timer = setInterval(() => this.checkDeadlines(), 50);
    this.timer.unref();
    if (options.clusterSecret !== undefined) this.handshake(new InternalHandshake(options.clusterSecret), options);
    if (options.cluster !== undefined) this.ident(options.cluster, options);
  }

  /**
   * Asks the node to confirm it is of `cluster` before anything else runs (behind the handshake,
   * if any): without a cluster secret an address reused by another cluster's node (a dead node's
   * port) answered this cluster's INCs from its own data (found by a discovery review).
   */
  private ident(cluster: string, options: NodeConnectionOptions): void {
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const request = encodeArgs(['SEQDB.IDENT', cluster]);
    this.pending.push({
      ...handshakeStep(options.connectTimeoutMs ?? 1000),
      resolve: (o) => {
        if (!o.ok || o.reply.kind !== 'error' || o.reply.word !== 'WRONGCLUSTER') return;
        log(`not using node ${this.address}: ${o.reply.message}`);
        this.kill('unreachable');
      },
    });
    if (this.held !== null) this.held.push(request);
    else this.socket.write(request);
  }

  /** Runs the cluster handshake ahead of every request; requests sent meanwhile are held. */
  private handshake(h: InternalHandshake, options: NodeConnectionOptions): void {
    this.held = [];
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const refuse = (err: Error): void => {
      log(`not using node ${this.address}: ${err.message}`);
      this.kill();
    };
    const timeoutMs = options.connectTimeoutMs ?? 1000;
    this.pending.push({
      ...handshakeStep(timeoutMs),
      resolve: (o) => {
        if (!o.ok) return;
        let prove: string[];
        try {
          prove = h.proveArgs(o.reply);
        } catch (err) {
          return refuse(err as Error);
        }
        // Ahead of the held requests: PROVE's reply comes before theirs.
        this.pending.unshift({ ...handshakeStep(timeoutMs), resolve: (p) => {
          if (!p.ok) return;
          try {
            InternalHandshake.accepted(p.reply);
          } catch (err) {
            refuse(err as Error);
          }
        } });
        const held = this.held ?? [];
        this.held = null;
        this.socket.write(Buffer.concat([encodeArgs(prove), ...held]));
      },
    });
    this.socket.write(encodeArgs(h.helloArgs()));
  }

  get alive(): boolean {
    return !this.dead;
  }

  get inflight(): number {
    return this.pending.length;
  }

  /** Sends one request (already RESP-encoded); resolves with its reply or why there is none. */
  send(request: Buffer, timeoutMs: number): Promise<SendOutcome> {
    if (this.dead) return Promise.resolve({ ok: false, why: 'lost' });
    if (this.pending.length >= this.inflightMax) return Promise.resolve({ ok: false, why: 'busy' });
    return new Promise((resolve) => {
      const now = monoNowMs();
      this.pending.push({ resolve, deadlineMs: now + timeoutMs, sentMs: now, settled: false, fatal: false });
      if (this.held !== null) this.held.push(request);
      else this.queueWrite(request);
    });
  }

  /**
   * Requests from many client connections arrive in one poll phase: they leave in one socket
   * write after it (setImmediate) instead of one syscall each; order is kept, so replies still
   * match `pending` in order.
   */
  private queueWrite(request: Buffer): void {
    this.outbound.push(request);
    if (this.outbound.length > 1) return;
    setImmediate(() => {
      const parts = this.outbound.splice(0);
      if (this.dead || parts.length === 0) return;
      this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    });
  }

  /** Writes the requests queued in this poll phase now instead of at its end. */
  flush(): void {
    if (this.dead || this.outbound.length === 0) return;
    const parts = this.outbound.splice(0);
    this.socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  close(): void {
    this.kill();
  }

  private settle(p: Pending | undefined, outcome: SendOutcome): void {
    if (p === undefined || p.settled) return;
    p.settled = true;
    p.resolve(outcome);
  }

  private checkDeadlines(): void {
    const head = this.pending[0];
    if (head === undefined) return;
    const now = monoNowMs();
    if (head.deadlineMs <= now && now - head.sentMs >= this.stallMs) return this.kill('timeout');
    for (const p of this.pending) {
      if (p.settled || p.deadlineMs > now) continue;
      if (p.fatal) return this.kill('timeout');
      this.settle(p, { ok: false, why: 'timeout' });
    }
  }

  private kill(reason: 'lost' | 'timeout' | 'unreachable' = 'lost'): void {
    if (this.dead) return;
    // Held requests were never written: as certainly not executed as with no connection at all.
    // 'unreachable' as the reason: the node refused the connection before running anything.
    const why: SendFailure = this.connected && this.held === null ? reason : 'unreachable';
    this.dead = true;
    clearInterval(this.timer);
    this.decoder.stop();
    this.socket.destroy();
    const waiting = this.pending.splice(0);
    // The last ones are still queued for this poll phase's write (queueWrite): never sent, so as
    // certainly not executed as held ones (a review: a SET so was told OUTCOME_UNKNOWN).
    const sentCount = waiting.length - this.outbound.splice(0).length;
    // The node stalled or the socket broke: each request sent may or may not have been executed.
    waiting.forEach((p, i) => this.settle(p, { ok: false, why: i < sentCount ? why : 'unreachable' }));
    this.onDead();
  }

  /** Test hook: whether the TCP connection was ever established. */
  get everConnected(): boolean {
    return this.connected;
  }
}

/** A handshake step's timing: it must be answered within the connect timeout and a second. */
function handshakeStep(connectTimeoutMs: number): Omit<Pending, 'resolve'> {
  const now = monoNowMs();
  return { deadlineMs: now + connectTimeoutMs + 1000, sentMs: now, settled: false, fatal: true };
}

/** RESP array of bulk strings. */
export function encodeArgs(args: readonly (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'latin1') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');

/** A pool of one connection per node address, reconnected on demand; bounded in size. */
export class NodePool {
  private readonly conns = new Map<string, NodeConnection>();

  constructor(private readonly options: NodeConnectionOptions & { readonly nodesMax?: number } = {}) {}

  get(address: string): NodeConnection {
    let c = this.conns.get(address);
    if (c === undefined || !c.alive) {
      if (c === undefined && this.conns.size >= (this.options.nodesMax ?? 1024)) this.evictIdle();
      c = new NodeConnection(address, this.options, () => {
        if (this.conns.get(address) === c) this.conns.delete(address);
      });
      this.conns.set(address, c);
    }
    return c;
  }

  send(address: string, args: readonly (Buffer | string)[], timeoutMs: number): Promise<SendOutcome> {
    return this.get(address).send(encodeArgs(args), timeoutMs);
  }

  /** Writes what every connection queued in this poll phase (see NodeConnection.flush). */
  flush(): void {
    for (const c of this.conns.values()) c.flush();
  }

  closeAll(): void {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  private evictIdle(): void {
    for (const [address, c] of this.conns) {
      if (c.inflight === 0) {
        c.close();
        this.conns.delete(address);
        return;
      }
    }
  }
}
