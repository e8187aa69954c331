/**
 * One outbound connection to one peer (transport.ts): its bounded queue, backoff and dead-link
 * detection.
 */
import type { Socket } from 'node:net';
import type { Message, NodeId } from '../raft/types.ts';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { dial } from '../../shared/security/tls-config.ts';
import { offerPeerAuth } from '../../shared/security/peer-auth.ts';
import { encodeMessage, snapshotImageFrames } from './peer-codec.ts';
import { isChunked, type ChunkedSnapshot } from './snapshot-images.ts';
import { formatHello } from './peer-hello.ts';
import { splitAddr } from './control-request.ts';
import type { TransportOptions } from './transport.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

/** TCP keepalive on peer connections: a dead, idle connection is found by the kernel eventually. */
export const KEEPALIVE_DELAY_MS = 5_000;

/** What a link needs to know about the peer's traffic to us (it arrives on other sockets). */
export interface InboundView {
  /** When anything last arrived from this peer (monoNowMs; -Infinity: never). */
  heardMs(id: NodeId): number;
}

/** A message's frames; a chunked snapshot's image frames are pulled as the socket drains. */
interface QueueItem {
  frames: Buffer[];
  readonly snapshot: boolean;
  readonly image?: Generator<Buffer>;
}

/** How long a dial waits for its handshake (scouts go beside it meanwhile). */
const DIAL_WAIT_MS = 4_000;
/** After this long without an image, the next one goes at once. */
const IMAGE_STREAK_RESET_MS = 60_000;
const IMAGE_GAP_MS_MAX = 32_000;
/**
 * Round trips added to peerSilenceMsMax: before a peer can answer our first message it must get
 * it, dial back (a handshake) and send; on a slow path that alone is ~2 round trips.
 */
const SILENCE_ROUND_TRIPS = 3;
/**
 * At most this much is added: a handshake's time includes any event-loop stall before its
 * 'connect' callback ran, and a link made while the node was busy keeps it for its whole life.
 */
const SILENCE_EXTRA_MS_MAX = 2_000;
/** A handshake this long included a resent SYN (the kernel's first resend is 1 s in): no round trip. */
const SYN_RESEND_MS = 1_000;

/** The pause before the next image after `streak` images in a row (0: none yet). */
function imageGapMs(streak: number): number {
  return streak <= 1 ? (streak === 1 ? 1000 : 0) : Math.min(IMAGE_GAP_MS_MAX, 1000 * 2 ** (streak - 1));
}

/**
 * One outbound connection to one peer, with its bounded queue and backoff.
 *
 * Dead links: a partition that drops packets silently never errors a TCP connection; writes pile
 * up in the kernel and, once the network heals, TCP retransmits only at its next backoff step
 * (seconds later). So a link is also failed when we keep sending and the peer stays silent for
 * peerSilenceMsMax (plus a few round trips of the path), and a dial is helped by scouts: see
 * connect().
 */
export class PeerLink {
  private socket: Socket | null = null;
  private connected = false;
  private queue: QueueItem[] = [];
  private queuedBytes = 0;
  private failures = 0;
  private retryAtMs = 0;
  private writable = true;
  private closed = false;
  /** The last handshake's round trip: a slow path's silence limit grows with it. */
  private handshakeRttMs = 0;
  /** When we first sent something the peer has not answered yet (null: all answered). */
  private unansweredSinceMs: number | null = null;
  /** Snapshots queued or being written: the peer answers only after installing one. */
  private snapshotsInFlight = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  /** Arms the next scout while a dial waits (scoutWhile). */
  private scoutTimer: NodeJS.Timeout | null = null;
  /** The newest scout (scout()): one still in its handshake is replaced by the next. */
  private scoutSocket: Socket | null = null;
  /** Armed while a snapshot image waits for the socket to drain (snapshotStallMsMax). */
  private stallTimer: NodeJS.Timeout | null = null;
  /** When the last image left, and how many left in a row each soon after the one before. */
  private imageSentMs = Number.NEGATIVE_INFINITY;
  private imageStreak = 0;
  /**
   * Frames on this connection carry checksums: decided once the peer is known to take them, and
   * kept (its decoder refuses a plain frame after a checksummed one) until the connection goes.
   */
  private checksums = false;

  constructor(private readonly id: NodeId, private readonly opts: TransportOptions, private readonly inbound: InboundView) {}

  send(m: Message): void {
    if (this.closed) return;
    if (this.socket && this.connected && this.silentTooLong(monoNowMs())) {
      this.opts.log(`peer ${this.id}: nothing heard for ${this.silenceMsMax()} ms while sending; reconnecting`);
      this.drop(this.socket);
    }
    const max = this.opts.queueMessagesMax ?? 4096;
    if (!this.checksums) this.checksums = this.opts.frameChecksums?.(this.id) ?? false;
    const frames = encodeMessage(m, this.opts.codec, this.checksums);
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    if (this.queue.length >= max || this.queuedBytes + bytes > (this.opts.queueBytesMax ?? 64 << 20)) {
      if (m.type === 'snap') this.opts.onSnapshotSent(this.id, false);
      return;
    }
    if (!this.socket) {
      if (monoNowMs() < this.retryAtMs) {
        if (m.type === 'snap') this.opts.onSnapshotSent(this.id, false);
        return;
      }
      this.connect();
      if (!this.socket) return;
    }
    // A chunked image is not counted against queueBytesMax (it is read as it is sent), so at most
    // one is queued or being sent at a time: a second would wait behind it anyway.
    const chunked = m.snapshot !== undefined && isChunked(m.snapshot);
    if (chunked && (this.snapshotsInFlight > 0 || monoNowMs() - this.imageSentMs < imageGapMs(this.imageStreak))) {
      this.opts.onSnapshotSent(this.id, false);
      return;
    }
    const image = chunked ? snapshotImageFrames(m.snapshot as ChunkedSnapshot, this.opts.codec, this.checksums) : undefined;
    this.queue.push({ frames, snapshot: m.type === 'snap', ...(image ? { image } : {}) });
    if (m.type === 'snap') this.snapshotsInFlight++;
    this.queuedBytes += bytes;
    this.flush();
  }

  /**
   * An image asked for again soon after one left did not help (a follower discards images it has
   * no disk room for, snapshot-spool.ts): the next waits 1 s, then 2, 4, ... up to 32 s, so a
   * low follower is not sent ~100 MB/s of images it drops (a review). Reset after a quiet minute.
   */
  private imageSent(): void {
    const now = monoNowMs();
    this.imageStreak = now - this.imageSentMs < IMAGE_STREAK_RESET_MS ? this.imageStreak + 1 : 1;
    this.imageSentMs = now;
  }

  close(): void {
    this.closed = true;
    // Failed now, not on the socket's close event: an image being sent releases its LMDB read
    // transaction before the storage closes its environment.
    if (this.socket) this.drop(this.socket);
  }

  /** The peer just connected to us: the network to it works, so skip the rest of any backoff. */
  peerReachable(): void {
    if (this.closed) return;
    if (this.socket === null) {
      this.retryAtMs = 0;
      this.failures = 0;
    } else if (this.socket.connecting) {
      // Our SYN was probably lost while the path was down (the kernel resends it only 1 s later),
      // or the path is slow and it is on its way: a scout covers the first without losing the
      // second (dropping the dial made a restarted follower behind 200 ms re-dial from scratch).
      const addr = this.opts.addressOf(this.id);
      if (addr) this.scout(addr, this.opts.connectTimeoutMs ?? 250);
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
    return now - since > this.silenceMsMax();
  }

  /**
   * peerSilenceMsMax, plus a few round trips of a slow path: over 400-500 ms ones a restarted
   * follower answered ~1 s after our link came up (its own dial back first), so the link was
   * dropped and its catch-up began again in TCP slow start.
   */
  private silenceMsMax(): number {
    return (this.opts.peerSilenceMsMax ?? 1000) + Math.min(SILENCE_EXTRA_MS_MAX, SILENCE_ROUND_TRIPS * this.handshakeRttMs);
  }

  /** Fails the link now (the socket's close event comes later and is then ignored). */
  private drop(s: Socket): void {
    this.fail(s);
    s.destroy();
  }

  private connect(): void {
    const addr = this.opts.addressOf(this.id);
    if (!addr) return this.fail(null);
    const s = this.dialPeer(addr);
    this.socket = s;
    this.unansweredSinceMs = null;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.socket === s && s.connecting) {
        this.drop(s);
        // The dial's wait was the backoff: a pause on top left a gap with no SYN and no scout.
        this.retryAtMs = 0;
      }
    }, DIAL_WAIT_MS);
    this.connectTimer.unref();
    this.scoutWhile(s, this.opts.connectTimeoutMs ?? 250);
  }

  /**
   * A dial waits up to DIAL_WAIT_MS for its handshake, and while it waits a short dial (a scout)
   * goes out every scoutMs, each with a fresh SYN to the peer's current address; the first to
   * connect is the link. The long dial serves a slow path: with dials cut at 250 ms (then 500,
   * 1,000) a restarted follower behind 250 ms each way first answered after 3 s, and with a fixed
   * cut a shard over a 300 ms round trip never formed. Scouts serve a path that healed, or a peer
   * that moved, while the dial waits: the kernel resends a lost SYN only 1 s later (then every
   * 1 s, or 2 s, 4 s on kernels without tcp_syn_linear_timeouts), and a CI run's follower caught
   * up 1.7 s after healing.
   */
  private scoutWhile(main: Socket, scoutMs: number, first = true): void {
    this.scoutTimer = setTimeout(() => {
      this.scoutTimer = null;
      if (this.socket !== main || !main.connecting) return;
      // Raft hears of it now, as when dials were cut here: it stops streaming to the peer
      // (messages would wait in the queue up to the dial's 4 s) and probes instead.
      if (first) this.opts.onUnreachable(this.id);
      const addr = this.opts.addressOf(this.id);
      if (addr) this.scout(addr, scoutMs);
      this.scoutWhile(main, scoutMs, false);
    }, scoutMs);
    this.scoutTimer.unref();
  }

  /** A short dial beside the link's own (one at a time: a newer replaces one still waiting). */
  private scout(addr: string, lifeMs: number): void {
    if (this.scoutSocket?.connecting === true) this.scoutSocket.destroy();
    const scout = this.dialPeer(addr);
    this.scoutSocket = scout;
    setTimeout(() => { if (scout.connecting) scout.destroy(); }, lifeMs).unref();
  }

  /** A connection to the peer with our hello written; it becomes the link's socket once connected. */
  private dialPeer(addr: string): Socket {
    const [host, port] = splitAddr(addr);
    const s = dial(host, port, this.opts.tls);
    s.setNoDelay(true);
    s.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    const hello = formatHello({ cluster: this.opts.cluster, shard: this.opts.shard, nodeId: this.opts.nodeId, addr: this.opts.advertise() });
    s.write(hello);
    const dialedMs = monoNowMs();
    s.once('connect', () => this.onConnect(s, addr, hello, monoNowMs() - dialedMs));
    s.on('drain', () => {
      if (this.socket !== s) return;
      this.writable = true;
      this.flush();
    });
    s.on('data', (d: Buffer) => {
      if (d.toString('latin1').startsWith('SEQDB-PEER-REFUSED')) this.opts.log(`peer ${this.id} at ${addr} ${d.toString('latin1').trim()}`);
    });
    s.on('error', () => s.destroy());
    s.once('close', () => this.fail(s));
    return s;
  }

  private onConnect(s: Socket, addr: string, hello: string, handshakeMs: number): void {
    if (this.socket !== s) {
      // A scout: it replaces a dial still in its handshake (or a link backing off); else unneeded.
      const main = this.socket;
      if (this.closed || (main !== null && !main.connecting)) return void s.destroy();
      this.socket = s; // first, so that the main dial's close is ignored
      main?.destroy();
      this.unansweredSinceMs = null;
    }
    this.clearDialTimers();
    if (handshakeMs < SYN_RESEND_MS) this.handshakeRttMs = handshakeMs;
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
  }

  private clearDialTimers(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.scoutTimer) clearTimeout(this.scoutTimer);
    this.scoutTimer = null;
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
      const item = this.queue[0]!;
      for (const f of item.frames) {
        this.queuedBytes -= f.length;
        this.writable = s.write(f);
      }
      item.frames = [];
      if (item.image && !this.pump(s, item.image)) return;
      this.queue.shift();
      if (item.snapshot) {
        // The callback of the last write fires once the whole image left through the socket.
        s.write(Buffer.alloc(0), (err) => {
          if (this.socket === s) this.snapshotsInFlight = Math.max(0, this.snapshotsInFlight - 1);
          if (item.image && !err) this.imageSent();
          this.opts.onSnapshotSent(this.id, !err);
        });
      }
    }
  }

  /**
   * Writes image frames until the socket asks us to wait (false: 'drain' resumes the flush) or
   * the image ends (true). An image that can no longer be read (a newer one replaced it) fails
   * the link: the peer must not take a part of it for the whole.
   */
  private pump(s: Socket, image: Generator<Buffer>): boolean {
    this.clearStall();
    while (this.writable) {
      let next: IteratorResult<Buffer>;
      try {
        next = image.next();
      } catch (err) {
        this.opts.log(`peer ${this.id}: snapshot image unreadable while sending (${(err as Error).message}); reconnecting`);
        if (err instanceof SeqError && err.code === ErrorCode.CORRUPT) this.opts.onImageDamaged?.(err);
        this.drop(s);
        return false;
      }
      if (next.done === true) return true;
      this.writable = s.write(next.value);
    }
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      if (this.socket !== s || this.writable) return;
      this.opts.log(`peer ${this.id}: snapshot image not taken for ${this.opts.snapshotStallMsMax ?? 60_000} ms; reconnecting`);
      this.drop(s);
    }, this.opts.snapshotStallMsMax ?? 60_000);
    this.stallTimer.unref();
    return false;
  }

  private clearStall(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  private fail(s: Socket | null): void {
    if (s !== null && s !== this.socket) return;
    this.clearStall();
    for (const item of this.queue) {
      item.image?.return(undefined); // releases the image's read transaction
      if (item.snapshot) this.opts.onSnapshotSent(this.id, false);
    }
    this.queue = [];
    this.queuedBytes = 0;
    this.socket = null;
    this.connected = false;
    // A new connection asks again: a peer restarted on an older build refuses checksummed frames.
    this.checksums = false;
    this.snapshotsInFlight = 0;
    this.unansweredSinceMs = null;
    this.clearDialTimers();
    this.writable = true;
    this.failures++;
    const min = this.opts.backoffMsMin ?? 50;
    const max = this.opts.backoffMsMax ?? 500;
    this.retryAtMs = monoNowMs() + Math.min(max, min * 2 ** Math.min(this.failures - 1, 16));
    if (!this.closed) this.opts.onUnreachable(this.id);
  }
}
