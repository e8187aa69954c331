/**
 * TCP transport between the nodes of a shard, on the node's one port (shared with clients).
 *
 * Inbound: every connection is sniffed (peer-hello.ts). A peer hello of another cluster or shard,
 * or from a removed node, is refused with one `SEQDB-PEER-REFUSED <reason>` line and logged;
 * anything that is not a hello is handed, bytes intact, to the client server.
 * Outbound: one connection per peer, written only by us (Raft messages flow one way on it; the
 * peer answers on its own connection to us). Each link has a bounded queue: when full, messages
 * are dropped (Raft retransmits). A failed link reports the peer unreachable and reconnects with
 * capped exponential backoff on the next send. A link is also failed when the peer leaves what we
 * send unanswered for too long or a dial hangs: silent packet loss never errors a TCP connection.
 * Control requests (join, bootstrap discovery) use short-lived connections: hello, one CONTROL
 * frame, one CONTROL frame back.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Message, NodeId } from '../raft/types.ts';
import { encodeControl, encodeMessage, PeerDecoder, type PeerCodecOptions } from './peer-codec.ts';
import { formatHello, sniff, type PeerHello } from './peer-hello.ts';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { acceptPeerAuth, offerPeerAuth } from '../../shared/security/peer-auth.ts';
import { dial, guardTlsServer, type TlsConfig } from '../../shared/security/tls-config.ts';

export type Control = Record<string, unknown>;

export interface TransportOptions {
  readonly cluster: string;
  readonly shard: string;
  readonly nodeId: NodeId;
  /** This node's address as peers and clients reach it (host:port); known once listening. */
  readonly advertise: () => string;
  /** Where a peer listens; undefined while unknown (messages to it are dropped). */
  readonly addressOf: (id: NodeId) => string | undefined;
  /** Removed nodes: their traffic is refused. */
  readonly isRemoved: (id: NodeId) => boolean;
  readonly onMessage: (m: Message) => void;
  /** An accepted peer connection announced itself (its id and where it listens). */
  readonly onPeerHello: (hello: PeerHello) => void;
  readonly onControl: (from: PeerHello, control: Control) => Promise<Control>;
  /** A connection that speaks the client protocol; `head` holds bytes already read from it. */
  readonly onClientSocket: (socket: Socket, head: Buffer) => void;
  readonly onUnreachable: (id: NodeId) => void;
  /**
   * The connection a peer last sent Raft messages on was closed by it (FIN or reset): when it is
   * the leader, its process is most likely gone (raft-node.ts peerGone). Optional.
   */
  readonly onPeerGone?: (id: NodeId) => void;
  /** A snap message was written to the socket (ok) or lost with the connection (!ok). */
  readonly onSnapshotSent: (id: NodeId, ok: boolean) => void;
  readonly log: (line: string) => void;
  /** Messages queued per peer before new ones are dropped. Default 4,096. */
  readonly queueMessagesMax?: number;
  /** Bytes queued per peer before new messages are dropped. Default 64 MiB. */
  readonly queueBytesMax?: number;
  /** First reconnect delay; doubles per failure up to backoffMsMax. Default 50. */
  readonly backoffMsMin?: number;
  /**
   * Default 500: it bounds how long a link stays down after the network to the peer heals (a
   * dial to a dead peer costs one SYN, so a short cap is cheap).
   */
  readonly backoffMsMax?: number;
  /**
   * A connected link is declared dead (destroyed, reported unreachable, re-dialed with the backoff
   * above) when we keep sending on it and nothing at all has come back from that peer for this
   * long. Raft traffic is request/response (app/appResp, heartbeat/heartbeatResp, vote/voteResp),
   * so a healthy peer answers within a few ms; a silently dropping network (a partition, a downed
   * link) otherwise leaves the connection in TCP's retransmission backoff for seconds after it
   * heals. About one election timeout at the default timing. Default 1,000.
   */
  readonly peerSilenceMsMax?: number;
  /** A dial whose TCP handshake has not completed within this long is abandoned. Default 250. */
  readonly connectTimeoutMs?: number;
  readonly codec?: PeerCodecOptions;
  /**
   * Both ends of every peer connection prove it (shared/security/peer-auth.ts) before any frame;
   * a peer that cannot is refused and logged. Default: none (peers are trusted on their hello).
   */
  readonly clusterSecret?: ClusterSecret;
  /** TLS on the one port (clients and peers) and on outbound peer connections. Default: plain TCP. */
  readonly tls?: TlsConfig;
}

/** A connection silent this long is a client (peers send their hello at once), e.g. a person at nc. */
const SILENT_CLIENT_MS = 1000;
/** A connection stuck inside a partial hello this long is dropped. */
const SNIFF_TIMEOUT_MS = 10_000;
/** TCP keepalive on peer connections: a dead, idle connection is found by the kernel eventually. */
const KEEPALIVE_DELAY_MS = 5_000;

/** What a link needs to know about the peer's traffic to us (it arrives on other sockets). */
interface InboundView {
  /** When anything last arrived from this peer (0: never). */
  heardMs(id: NodeId): number;
}

export class Transport {
  private readonly server: Server;
  private readonly links = new Map<NodeId, PeerLink>();
  /** When each peer last sent us anything: the liveness signal of our links to it. */
  private readonly heard = new Map<NodeId, number>();
  /** The accepted socket each peer last sent Raft messages on; an older one is a dead leftover. */
  private readonly inboundOf = new Map<NodeId, Socket>();
  private readonly inbound: InboundView = { heardMs: (id) => this.heard.get(id) ?? 0 };
  /** Every accepted socket still open (peers, clients, and those still being sniffed). */
  private readonly accepted = new Set<Socket>();
  /** TCP sockets under TLS, handshake included: a failed handshake must not hold its socket forever. */
  private readonly raw: Set<Socket>;
  private closed = false;

  constructor(private readonly opts: TransportOptions) {
    this.server = opts.tls === undefined
      // Half-open like the client server: `printf 'INC b s\n' | nc` closes its side first and must
      // still get the reply of a command that takes a Raft round.
      ? createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.onConnection(s))
      : createTlsServer({ ...opts.tls.server, allowHalfOpen: true }, (s) => this.onConnection(s));
    this.server.maxConnections = 10_000;
    this.raw = opts.tls === undefined ? new Set() : guardTlsServer(this.server as TlsServer, opts.tls.handshakeTimeoutMs);
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  send(m: Message): void {
    if (this.closed || m.to === this.opts.nodeId) return;
    let link = this.links.get(m.to);
    if (!link) {
      link = new PeerLink(m.to, this.opts, this.inbound);
      this.links.set(m.to, link);
    }
    link.send(m);
  }

  /** Forgets a peer's link (removed from the shard, or its address changed). */
  dropPeer(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  /** One control round trip to an address; rejects on refusal, error or timeout. */
  request(addr: string, control: Control, timeoutMs = 2000): Promise<Control> {
    return controlRequest(addr, control, timeoutMs, this.opts);
  }

  /** Stops accepting connections; those already open keep working. */
  stopAccepting(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // close() calls back only once every accepted connection is gone; close() below ends them.
      resolve();
    });
  }

  /** Closes every link and every accepted connection (clients included: call after draining them). */
  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.links.values()) l.close();
    this.links.clear();
    const done = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.accepted) s.destroy();
    for (const s of this.raw) s.destroy();
    await done;
  }

  private onConnection(socket: Socket): void {
    if (this.closed) return void socket.destroy();
    this.accepted.add(socket);
    socket.once('close', () => this.accepted.delete(socket));
    let head: Buffer = Buffer.alloc(0);
    const silent = setTimeout(() => {
      if (head.length > 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      this.opts.onClientSocket(socket, head);
    }, SILENT_CLIENT_MS);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const s = sniff(head);
      if (s.kind === 'more') return;
      clearTimeout(timer);
      clearTimeout(silent);
      socket.off('data', onData);
      socket.pause();
      if (s.kind === 'client') return this.opts.onClientSocket(socket, head);
      if (s.kind === 'bad') return this.refuse(socket, s.reason, socket.remoteAddress ?? '?');
      this.onPeer(socket, s.hello, s.rest);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(timer);
      clearTimeout(silent);
    });
  }

  /**
   * Each peer sends Raft messages on one connection at a time (its link to us). Once it uses a
   * new one, the old one is a leftover of a link it gave up on, possibly during a partition that
   * swallowed its FIN: close it instead of holding it until keepalive finds it.
   */
  private supersede(peer: NodeId, socket: Socket): void {
    const prev = this.inboundOf.get(peer);
    if (prev === socket) return;
    this.inboundOf.set(peer, socket);
    prev?.destroy();
  }

  private refusal(h: PeerHello): string | null {
    if (h.cluster !== this.opts.cluster) return `cluster ${h.cluster} is not ${this.opts.cluster}`;
    if (h.shard !== this.opts.shard) return `shard ${h.shard} is not ${this.opts.shard}`;
    if (this.opts.isRemoved(h.nodeId)) return `node ${h.nodeId} was removed from the shard`;
    if (h.nodeId === this.opts.nodeId) return 'a connection from myself';
    return null;
  }

  private refuse(socket: Socket, reason: string, who: string): void {
    this.opts.log(`refused peer ${who}: ${reason}`);
    socket.end(`SEQDB-PEER-REFUSED ${reason.replace(/[\r\n]/g, ' ')}\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private onPeer(socket: Socket, hello: PeerHello, rest: Buffer, proven = false): void {
    // The listener allows half-open sockets for clients; a peer that closes its side is gone.
    if (!proven) socket.once('end', () => socket.destroy());
    const why = this.refusal(hello);
    if (why) return this.refuse(socket, why, `${hello.nodeId}@${hello.addr}`);
    if (!proven && this.opts.tls?.peerCertRequired === true && (socket as TLSSocket).authorized !== true) {
      return this.refuse(socket, 'peer certificate not signed by --tls-ca', `${hello.nodeId}@${hello.addr} (${socket.remoteAddress ?? '?'})`);
    }
    const secret = this.opts.clusterSecret;
    if (secret !== undefined && !proven) {
      // Nothing from this peer (not even its address) is used before it proved the secret.
      acceptPeerAuth(socket, secret, formatHello(hello).trimEnd(), rest).then(
        (frames) => this.onPeer(socket, hello, frames, true),
        (err: Error) => this.refuse(socket, err.message, `${hello.nodeId}@${hello.addr} (${socket.remoteAddress ?? '?'})`),
      );
      return;
    }
    this.opts.onPeerHello(hello);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    const peer = hello.nodeId;
    // The peer reached us, so the path works now: a link of ours to it that is backing off or
    // stuck in a handshake (SYNs lost while the network was down) re-dials at once.
    this.heard.set(peer, Date.now());
    this.links.get(peer)?.peerReachable();
    socket.once('close', () => {
      if (this.inboundOf.get(peer) !== socket) return;
      this.inboundOf.delete(peer);
      if (!this.closed) this.opts.onPeerGone?.(peer);
    });
    const decoder = new PeerDecoder(this.opts.codec);
    const onData = (chunk: Buffer): void => {
      this.heard.set(peer, Date.now());
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.opts.log(`dropping peer ${hello.nodeId}: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      // A node removed while connected loses its say at once.
      if (this.opts.isRemoved(hello.nodeId)) return void socket.destroy();
      for (const f of frames) {
        if (f.kind === 'message') {
          if (f.message.from === hello.nodeId && f.message.to === this.opts.nodeId) {
            this.supersede(peer, socket);
            this.opts.onMessage(f.message);
          }
        } else {
          this.opts.onControl(hello, f.control).then(
            (reply) => socket.writable && socket.write(encodeControl(reply, this.opts.codec)),
            (err: Error) => socket.writable && socket.write(encodeControl({ error: err.message }, this.opts.codec)),
          );
        }
      }
    };
    socket.on('data', onData);
    if (rest.length) onData(rest);
    socket.resume();
  }
}

/**
 * One outbound connection to one peer, with its bounded queue and backoff.
 *
 * Dead links: a partition that drops packets silently never errors a TCP connection; writes pile
 * up in the kernel and, once the network heals, TCP retransmits only at its next backoff step
 * (seconds later). So a link is also failed when its TCP handshake does not complete within
 * connectTimeoutMs, or when we keep sending and the peer stays silent for peerSilenceMsMax.
 */
class PeerLink {
  private socket: Socket | null = null;
  private connected = false;
  private queue: { frames: Buffer[]; snapshot: boolean }[] = [];
  private queuedBytes = 0;
  private failures = 0;
  private retryAtMs = 0;
  private writable = true;
  private closed = false;
  /** When we first sent something the peer has not answered yet (null: all answered). */
  private unansweredSinceMs: number | null = null;
  /** Snapshots queued or being written: the peer answers only after installing one. */
  private snapshotsInFlight = 0;
  private connectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly id: NodeId, private readonly opts: TransportOptions, private readonly inbound: InboundView) {}

  send(m: Message): void {
    if (this.closed) return;
    if (this.socket && this.connected && this.silentTooLong(Date.now())) {
      this.opts.log(`peer ${this.id}: nothing heard for ${this.opts.peerSilenceMsMax ?? 1000} ms while sending; reconnecting`);
      this.drop(this.socket);
    }
    const max = this.opts.queueMessagesMax ?? 4096;
    const frames = encodeMessage(m, this.opts.codec);
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    if (this.queue.length >= max || this.queuedBytes + bytes > (this.opts.queueBytesMax ?? 64 << 20)) {
      if (m.type === 'snap') this.opts.onSnapshotSent(this.id, false);
      return;
    }
    if (!this.socket) {
      if (Date.now() < this.retryAtMs) {
        if (m.type === 'snap') this.opts.onSnapshotSent(this.id, false);
        return;
      }
      this.connect();
      if (!this.socket) return;
    }
    this.queue.push({ frames, snapshot: m.type === 'snap' });
    if (m.type === 'snap') this.snapshotsInFlight++;
    this.queuedBytes += bytes;
    this.flush();
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }

  /** The peer just connected to us: the network to it works, so skip the rest of any backoff. */
  peerReachable(): void {
    if (this.closed) return;
    if (this.socket === null) {
      this.retryAtMs = 0;
      this.failures = 0;
    } else if (this.socket.connecting) {
      // Our SYN was probably lost while the path was down; the kernel would resend it only after 1 s+.
      this.drop(this.socket);
      this.retryAtMs = 0;
      this.failures = 0;
    }
  }

  /** Called on every send: true when the peer has left our traffic unanswered for too long. */
  private silentTooLong(now: number): boolean {
    if (this.snapshotsInFlight > 0) {
      this.unansweredSinceMs = null;
      return false;
    }
    const since = this.unansweredSinceMs;
    if (since === null || this.inbound.heardMs(this.id) >= since) {
      this.unansweredSinceMs = now;
      return false;
    }
    return now - since > (this.opts.peerSilenceMsMax ?? 1000);
  }

  /** Fails the link now (the socket's close event comes later and is then ignored). */
  private drop(s: Socket): void {
    this.fail(s);
    s.destroy();
  }

  private connect(): void {
    const addr = this.opts.addressOf(this.id);
    if (!addr) return this.fail(null);
    const [host, port] = splitAddr(addr);
    const s = dial(host, port, this.opts.tls);
    this.socket = s;
    this.unansweredSinceMs = null;
    s.setNoDelay(true);
    s.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.socket === s && s.connecting) this.drop(s);
    }, this.opts.connectTimeoutMs ?? 250);
    this.connectTimer.unref();
    const hello = formatHello({ cluster: this.opts.cluster, shard: this.opts.shard, nodeId: this.opts.nodeId, addr: this.opts.advertise() });
    s.write(hello);
    s.once('connect', () => {
      const secret = this.opts.clusterSecret;
      if (secret !== undefined) {
        // Frames wait until the peer proved the secret (and we did).
        offerPeerAuth(s, secret, hello.trimEnd()).then(
          () => {
            if (this.socket !== s) return;
            this.connected = true;
            this.failures = 0;
            this.flush();
          },
          (err: Error) => {
            this.opts.log(`peer ${this.id} at ${addr}: ${err.message}`);
            s.destroy();
          },
        );
        return;
      }
      this.connected = true;
      this.failures = 0;
      this.flush();
    });
    s.on('drain', () => {
      this.writable = true;
      this.flush();
    });
    s.on('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('SEQDB-PEER-REFUSED')) this.opts.log(`peer ${this.id} at ${addr} ${d.toString('latin1').trim()}`);
    });
    s.on('error', () => s.destroy());
    s.once('close', () => this.fail(s));
  }

  private flush(): void {
    const s = this.socket;
    if (!s || !this.connected) return;
    // One Ready sends several messages to this peer synchronously: cork so they leave in one
    // writev at the end of this tick instead of one syscall per frame (a top cost in profiles).
    if (this.queue.length > 0 && s.writableCorked === 0) {
      s.cork();
      process.nextTick(() => s.uncork());
    }
    while (this.writable && this.queue.length > 0) {
      const item = this.queue.shift()!;
      for (const f of item.frames) {
        this.queuedBytes -= f.length;
        this.writable = s.write(f);
      }
      if (item.snapshot) {
        // The callback of the last write fires once the whole image left through the socket.
        s.write(Buffer.alloc(0), (err) => {
          if (this.socket === s) this.snapshotsInFlight = Math.max(0, this.snapshotsInFlight - 1);
          this.opts.onSnapshotSent(this.id, !err);
        });
      }
    }
  }

  private fail(s: Socket | null): void {
    if (s !== null && s !== this.socket) return;
    for (const item of this.queue) if (item.snapshot) this.opts.onSnapshotSent(this.id, false);
    this.queue = [];
    this.queuedBytes = 0;
    this.socket = null;
    this.connected = false;
    this.snapshotsInFlight = 0;
    this.unansweredSinceMs = null;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.writable = true;
    this.failures++;
    const min = this.opts.backoffMsMin ?? 50;
    const max = this.opts.backoffMsMax ?? 500;
    this.retryAtMs = Date.now() + Math.min(max, min * 2 ** Math.min(this.failures - 1, 16));
    if (!this.closed) this.opts.onUnreachable(this.id);
  }
}

export function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad address '${addr}' (want host:port)`);
  return [addr.slice(0, i).replace(/^\[|\]$/g, ''), port];
}

function controlRequest(addr: string, control: Control, timeoutMs: number, opts: TransportOptions): Promise<Control> {
  return new Promise((resolve, reject) => {
    let host: string;
    let port: number;
    try {
      [host, port] = splitAddr(addr);
    } catch (err) {
      return reject(err);
    }
    const s = dial(host, port, opts.tls);
    const decoder = new PeerDecoder(opts.codec);
    let head = '';
    const done = (err: Error | null, reply?: Control): void => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`control request to ${addr} timed out`)), timeoutMs);
    const hello = formatHello({ cluster: opts.cluster, shard: opts.shard, nodeId: opts.nodeId, addr: opts.advertise() });
    s.write(hello);
    const onData = (d: Buffer): void => {
      if (head.length < 32) {
        head += d.toString('latin1');
        if (head.startsWith('SEQDB-PEER-REFUSED')) return done(new Error(`${addr}: ${head.trim()}`));
      }
      try {
        for (const f of decoder.push(d)) if (f.kind === 'control') return done(null, f.control);
      } catch (err) {
        done(err as Error);
      }
    };
    const start = (): void => {
      s.write(encodeControl(control, opts.codec));
      s.on('data', onData);
    };
    if (opts.clusterSecret === undefined) start();
    else offerPeerAuth(s, opts.clusterSecret, hello.trimEnd()).then(start, (err: Error) => done(new Error(`${addr}: ${err.message}`)));
    s.on('error', (err) => done(err));
    s.on('close', () => done(new Error(`control connection to ${addr} closed`)));
  });
}
