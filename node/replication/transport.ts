/**
 * TCP transport between the nodes of a shard, on the node's one port (shared with clients).
 *
 * Inbound: every connection is sniffed (peer-hello.ts). A peer hello of another cluster or shard,
 * or from a removed node, is refused with one `SEQDB-PEER-REFUSED <reason>` line and logged;
 * anything that is not a hello is handed, bytes intact, to the client server.
 * Outbound (peer-link.ts): one connection per peer, written only by us (Raft messages flow one way
 * on it; the peer answers on its own connection to us). Each link has a bounded queue: when full,
 * messages are dropped (Raft retransmits). A failed link reports the peer unreachable and
 * reconnects with capped exponential backoff on the next send. A link is also failed when the peer
 * leaves what we send unanswered for too long or a dial hangs: silent packet loss never errors a
 * TCP connection. Control requests (join, bootstrap discovery; control-request.ts) use short-lived
 * connections: hello, one CONTROL frame, one CONTROL frame back.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Message, NodeId } from '../raft/types.ts';
import { encodeControl, PeerDecoder, type PeerCodecOptions } from './peer-codec.ts';
import { releaseSnapshot } from './snapshot-spool.ts';
import { formatHello, sniff, type PeerHello } from './peer-hello.ts';
import { controlRequest } from './control-request.ts';
import { KEEPALIVE_DELAY_MS, PeerLink, type InboundView } from './peer-link.ts';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { acceptPeerAuth } from '../../shared/security/peer-auth.ts';
import { guardTlsServer, type TlsConfig } from '../../shared/security/tls-config.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';
import { ErrorCode, SeqError } from '../../shared/errors.ts';

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
  /**
   * The stored snapshot image being sent did not match its checksum (CORRUPT): the follower gets
   * none of it (the link drops mid-image) until a new image replaces it. Optional.
   */
  readonly onImageDamaged?: (err: Error) => void;
  /** A snap message was written to the socket (ok) or lost with the connection (!ok). */
  readonly onSnapshotSent: (id: NodeId, ok: boolean) => void;
  readonly log: (line: string) => void;
  /**
   * Sockets open at once on the port (peers, clients, and those still being sniffed) beyond
   * which new ones are closed unread: a file-descriptor safety net set above the client limit,
   * which answers `-BUSY` itself; the margin keeps room for peers. Default 10,000 + 1,024.
   */
  readonly socketsMax?: number;
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
   * heals. About one election timeout at the default timing; the link adds three round trips of
   * its last handshake, at most 2 s (a slow path's peer needs them to dial back and answer).
   * Default 1,000.
   */
  readonly peerSilenceMsMax?: number;
  /**
   * A snapshot image being sent whose socket has not drained for this long fails the link (the
   * core then offers it again). While an image streams, the link holds an LMDB read transaction
   * on it, which keeps LMDB from reusing pages freed meanwhile: a peer that stops reading (a
   * frozen VM, a SIGSTOPped process) must not pin it for ever. Generous, since one drain is one
   * 1 MiB chunk through the link: 60 s is ~17 KB/s. Default 60,000.
   */
  readonly snapshotStallMsMax?: number;
  /**
   * While a dial waits for its TCP handshake (up to 4 s: a slow path is not a dead one), a short
   * dial with a fresh SYN goes beside it every this long and lives this long (a SYN lost while
   * the path was down is otherwise resent by the kernel only 1 s later). Default 250.
   */
  readonly connectTimeoutMs?: number;
  readonly codec?: PeerCodecOptions;
  /**
   * Whether frames to this peer carry a checksum (peer-codec.ts): once it says so for a
   * connection, that connection keeps them. Default: never (every build decodes plain frames).
   */
  readonly frameChecksums?: (id: NodeId) => boolean;
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

/**
 * Peer ids whose last-heard times are kept: a hello names any id, and without a cluster secret
 * anyone may send one. Far above any shard's members; past it the oldest entry goes.
 */
const PEER_IDS_MAX = 4096;

/** Records now as `peer`'s time in `times`, bounded by PEER_IDS_MAX. */
function stamp(times: Map<NodeId, number>, peer: NodeId): void {
  if (!times.has(peer) && times.size >= PEER_IDS_MAX) times.delete(times.keys().next().value as NodeId);
  times.set(peer, monoNowMs());
}

/** Sockets kept for peers and sniffing above the client connection limit. */
export const PEER_SOCKETS_RESERVE = 1_024;

const SELF_CONNECTION = 'a connection from myself';

export class Transport {
  private readonly server: Server;
  private readonly links = new Map<NodeId, PeerLink>();
  /** When each peer last sent us anything: the liveness signal of our links to it. */
  private readonly heard = new Map<NodeId, number>();
  /** The accepted socket each peer last sent Raft messages on; an older one is a dead leftover. */
  private readonly inboundOf = new Map<NodeId, Socket>();
  /** Peer connections dropped on a bad frame, by reason (refusedFrames). */
  private readonly refused = { corrupt: 0, malformed: 0 };
  private readonly inbound: InboundView = {
    heardMs: (id) => this.heard.get(id) ?? Number.NEGATIVE_INFINITY,
  };
  /** Every accepted socket still open (peers, clients, and those still being sniffed). */
  private readonly accepted = new Set<Socket>();
  /** TCP sockets under TLS, handshake included: a failed handshake must not hold its socket forever. */
  private readonly raw: Set<Socket>;
  private closed = false;

  /** When `peer` last sent us anything (monoNowMs, shared/mono-clock.ts; -Infinity: never since we started). */
  heardMs(peer: NodeId): number {
    return this.heard.get(peer) ?? Number.NEGATIVE_INFINITY;
  }

  constructor(private readonly opts: TransportOptions) {
    this.server = opts.tls === undefined
      // Half-open like the client server: `printf 'INC b s\n' | nc` closes its side first and must
      // still get the reply of a command that takes a Raft round.
      ? createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.onConnection(s))
      : createTlsServer({ ...opts.tls.server, allowHalfOpen: true }, (s) => this.onConnection(s));
    // Not the client limit itself: at 10,000 clients the port fell silent for peers and clients
    // alike, and none got SeqServer's -BUSY (a review).
    this.server.maxConnections = opts.socketsMax ?? 10_000 + PEER_SOCKETS_RESERVE;
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

  /** Peer connections dropped on a frame that did not match its checksum (`corrupt`) or did not decode (`malformed`). */
  refusedFrames(): Readonly<Record<'corrupt' | 'malformed', number>> {
    return { ...this.refused };
  }

  private refusal(h: PeerHello): string | null {
    if (h.cluster !== this.opts.cluster) return `cluster ${h.cluster} is not ${this.opts.cluster}`;
    if (h.shard !== this.opts.shard) return `shard ${h.shard} is not ${this.opts.shard}`;
    if (this.opts.isRemoved(h.nodeId)) return `node ${h.nodeId} was removed from the shard`;
    if (h.nodeId === this.opts.nodeId) return SELF_CONNECTION;
    return null;
  }

  private refuse(socket: Socket, reason: string, who: string): void {
    // Its own address in --join (README allows it) is probed every 200 ms while it starts: no log.
    if (reason !== SELF_CONNECTION) this.opts.log(`refused peer ${who}: ${reason}`);
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
    // The peer reached us, so the path works now: a link of ours to it that is backing off
    // re-dials at once, one waiting on a handshake (its SYN maybe lost while the network was
    // down) sends a scout beside it.
    stamp(this.heard, peer);
    this.links.get(peer)?.peerReachable();
    socket.once('close', () => {
      if (this.inboundOf.get(peer) !== socket) return;
      this.inboundOf.delete(peer);
      if (!this.closed) this.opts.onPeerGone?.(peer);
    });
    const decoder = new PeerDecoder(this.opts.codec);
    socket.once('close', () => decoder.close());
    const onData = (chunk: Buffer): void => {
      stamp(this.heard, peer);
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.opts.log(`dropping peer ${hello.nodeId}: ${(err as Error).message}`);
        if (err instanceof SeqError && err.code === ErrorCode.CORRUPT) this.refused.corrupt++;
        else this.refused.malformed++;
        // We cut it, the peer did not go: not a sign of a dead leader (onPeerGone). It sends
        // again on a new connection; Raft resends what this one lost.
        if (this.inboundOf.get(peer) === socket) this.inboundOf.delete(peer);
        socket.destroy();
        return;
      }
      // A node removed while connected loses its say at once.
      if (this.opts.isRemoved(hello.nodeId)) {
        for (const f of frames) if (f.kind === 'message' && f.message.snapshot) releaseSnapshot(f.message.snapshot);
        return void socket.destroy();
      }
      for (const f of frames) {
        if (f.kind === 'message') {
          if (f.message.from === hello.nodeId && f.message.to === this.opts.nodeId) {
            this.supersede(peer, socket);
            this.opts.onMessage(f.message);
          } else if (f.message.snapshot) {
            releaseSnapshot(f.message.snapshot);
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
