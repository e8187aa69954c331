/**
 * The bounded table of peers seen over mDNS. Pure: the caller passes the time in.
 * An entry is a hint ("something said it serves here"), never proof of liveness.
 */
import type { Announcement } from './announcement.ts';

export interface PeerInfo extends Announcement {
  /** Lower-case mDNS instance FQDN; unique per (cluster, role, shard, host, port). */
  readonly instance: string;
  /** Source address of the last packet that announced it (may differ from `host` behind NAT). */
  readonly source: string;
  /** Monotonic time (ms) of the last announcement or query answer that mentioned it. */
  readonly lastSeenMs: number;
}

export type UpsertOutcome = 'added' | 'changed' | 'refreshed' | 'full';

export class PeerTable {
  readonly #peers = new Map<string, PeerInfo>();
  readonly #peersMax: number;
  readonly #peerTtlMs: number;

  constructor(peersMax: number, peerTtlMs: number) {
    if (!Number.isInteger(peersMax) || peersMax < 1) throw new RangeError('peersMax must be a positive integer');
    if (!(peerTtlMs > 0)) throw new RangeError('peerTtlMs must be positive');
    this.#peersMax = peersMax;
    this.#peerTtlMs = peerTtlMs;
  }

  get size(): number {
    return this.#peers.size;
  }

  /** Adds or refreshes a peer. A full table keeps the peers it has and drops newcomers. */
  upsert(instance: string, a: Announcement, source: string, nowMs: number): { outcome: UpsertOutcome; peer?: PeerInfo } {
    const old = this.#peers.get(instance);
    if (old === undefined && this.#peers.size >= this.#peersMax) return { outcome: 'full' };
    const peer: PeerInfo = {
      instance,
      cluster: a.cluster,
      role: a.role,
      ...(a.shard !== undefined ? { shard: a.shard } : {}),
      nodeId: a.nodeId,
      host: a.host,
      port: a.port,
      source,
      lastSeenMs: nowMs,
    };
    this.#peers.set(instance, peer);
    if (old === undefined) return { outcome: 'added', peer };
    return { outcome: sameIdentity(old, peer) ? 'refreshed' : 'changed', peer };
  }

  remove(instance: string): PeerInfo | undefined {
    const peer = this.#peers.get(instance);
    if (peer !== undefined) this.#peers.delete(instance);
    return peer;
  }

  /** Removes and returns the peers not heard of for longer than the TTL. */
  expire(nowMs: number): PeerInfo[] {
    const gone: PeerInfo[] = [];
    for (const [instance, peer] of this.#peers) {
      if (nowMs - peer.lastSeenMs > this.#peerTtlMs) {
        this.#peers.delete(instance);
        gone.push(peer);
      }
    }
    return gone;
  }

  list(): PeerInfo[] {
    return [...this.#peers.values()];
  }

  clear(): void {
    this.#peers.clear();
  }
}

function sameIdentity(a: Announcement, b: Announcement): boolean {
  return a.cluster === b.cluster && a.role === b.role && a.shard === b.shard &&
    a.nodeId === b.nodeId && a.host === b.host && a.port === b.port;
}
