/**
 * Zero-configuration discovery: publish and browse `_seqdb._tcp` over mDNS (bonjour-service),
 * pinned to the interface of --host. The thin I/O shell around announcement.ts (identity, TXT),
 * response.ts (packet reading) and peer-table.ts (bounded, expiring table).
 *
 * mDNS gives address hints only: a peer in peers() may be dead (crashes send no goodbye), and a
 * hostile host on the link can announce anything that passes validation. Liveness and identity
 * are the callers' job (TCP health checks, Raft).
 */
import type { Bonjour } from 'bonjour-service';
import { destroyBounded } from './destroy-bounded.ts';
import { ErrorCode, SeqError } from '../errors.ts';
import {
  type Announcement,
  type DiscoveryRole,
  SERVICE_FQDN,
  SERVICE_TYPE,
  announcementProblem,
  encodeTxt,
  instanceFqdn,
  instanceName,
} from './announcement.ts';
import { type PeerInfo, PeerTable } from './peer-table.ts';
import { parseResponse } from './response.ts';
import { type Subnet, localSubnet } from './local-address.ts';
import { type MdnsLike, probeName, waitReady } from './mdns-socket.ts';
import { guardQueries, type QueryResponder } from './query-guard.ts';

export type { PeerInfo } from './peer-table.ts';
export type { DiscoveryRole } from './announcement.ts';

export interface DiscoveryOptions {
  /** IPv4 address of a local interface (the --host); multicast is sent and joined only there. */
  readonly host: string;
  /** TCP port peers should connect to (the --port). */
  readonly port: number;
  /** Cluster name; announcements of other clusters are ignored. Default 'seqdb'. */
  readonly cluster?: string;
  readonly role: DiscoveryRole;
  /** Required for role 'node', forbidden for 'router'. */
  readonly shard?: string;
  readonly nodeId: string;
  /** A peer appeared, or its announced identity (node id) changed. Called after peers() reflects it. */
  readonly onPeer?: (peer: PeerInfo, change: 'added' | 'changed') => void;
  /** A peer said goodbye, or was not heard of for peerTtlMs. Never called after stop() began. */
  readonly onPeerGone?: (peer: PeerInfo, reason: 'goodbye' | 'expired') => void;
  /** How often we ask the link for `_seqdb._tcp` (finds late joiners, refreshes entries). Default 10000. */
  readonly queryIntervalMs?: number;
  /** A peer not heard of for this long is dropped (crashed nodes send no goodbye). Default 35000. */
  readonly peerTtlMs?: number;
  /** Peers kept at most; newcomers beyond it are dropped and counted. Default 1024. */
  readonly peersMax?: number;
  /** UDP port of mDNS. Default 5353; only tests should change it. */
  readonly mdnsPort?: number;
}

export interface DiscoveryStats {
  /** TXT records under `_seqdb._tcp` that failed validation. */
  readonly invalid: number;
  /** Valid announcements of another cluster, ignored. */
  readonly otherCluster: number;
  /**
   * Packets from outside the subnet of `host`, and announcements of an address outside it,
   * ignored. The socket is bound to 0.0.0.0, so it can hear mDNS that arrived on other
   * interfaces (another program joined the group there); and a peer on the link must not make
   * routers dial an address off the link.
   */
  readonly foreignSource: number;
  /** Newcomers dropped because the table was full. */
  readonly tableFull: number;
  readonly goodbyes: number;
  readonly expired: number;
  /** Undecodable packets and socket send/receive problems reported by multicast-dns after start. */
  readonly socketWarnings: number;
  /** Queries not answered: from outside the subnet, or beyond QUERIES_PER_SECOND_MAX (query-guard.ts). */
  readonly queriesDropped: number;
}

/** The multicast settings in force; exposed so tests can assert the pinning. */
export interface MulticastSettings {
  readonly interface: string;
  readonly bind: '0.0.0.0';
  readonly ttl: 1;
  readonly loopback: true;
  readonly port: number;
}

export interface Discovery {
  /** Lower-case FQDN we announce under. */
  readonly instance: string;
  readonly multicast: MulticastSettings;
  /**
   * Peers of our cluster, excluding ourselves. An entry not heard of for peerTtlMs is dropped at
   * the next sweep (every min(queryIntervalMs, peerTtlMs / 2)).
   */
  peers(): PeerInfo[];
  stats(): DiscoveryStats;
  /** Sends goodbye packets, closes the socket. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULTS = { cluster: 'seqdb', queryIntervalMs: 10_000, peerTtlMs: 35_000, peersMax: 1024, mdnsPort: 5353 };
/** Upper bound on waiting for the goodbye send before closing anyway. */
const GOODBYE_WAIT_MS = 1_000;

/** Starts publishing and browsing; resolves once the name is probed free and announced. */
export async function startDiscovery(options: DiscoveryOptions): Promise<Discovery> {
  const o: Resolved = {
    ...options,
    cluster: options.cluster ?? DEFAULTS.cluster,
    queryIntervalMs: options.queryIntervalMs ?? DEFAULTS.queryIntervalMs,
    peerTtlMs: options.peerTtlMs ?? DEFAULTS.peerTtlMs,
    peersMax: options.peersMax ?? DEFAULTS.peersMax,
    mdnsPort: options.mdnsPort ?? DEFAULTS.mdnsPort,
  };
  const self: Announcement = {
    cluster: o.cluster, role: o.role, ...(o.shard !== undefined ? { shard: o.shard } : {}),
    nodeId: o.nodeId, host: o.host, port: o.port,
  };
  const subnet = checkOptions(self, o);
  const multicast: MulticastSettings = { interface: o.host, bind: '0.0.0.0', ttl: 1, loopback: true, port: o.mdnsPort };
  const stats = { invalid: 0, otherCluster: 0, foreignSource: 0, tableFull: 0, goodbyes: 0, expired: 0, socketWarnings: 0, queriesDropped: 0 };
  // Without `interface`, multicast-dns joins and sends on every interface (the real network);
  // with `interface` alone it binds to that unicast address and hears nothing (multicast-dns
  // issue 53), hence bind 0.0.0.0. ttl 1: never routed beyond the link.
  // Loaded here, not at the top: most nodes and routers run without discovery (--join, dev),
  // and the module costs ~50 ms of CPU at every start.
  const { Bonjour } = await import('bonjour-service');
  const bonjour = new Bonjour(multicast as object, () => { stats.socketWarnings++; });
  const mdns = (bonjour as unknown as { server: { mdns: MdnsLike } }).server.mdns;
  guardQueries((bonjour as unknown as { server: QueryResponder }).server, subnet, sourceAddress, stats);
  // Permanent listeners first: an 'error' event with no listener would crash the process, and
  // multicast-dns can emit one more after a failed bind.
  mdns.on('warning', () => { stats.socketWarnings++; });
  mdns.on('error', () => { stats.socketWarnings++; });
  try {
    await waitReady(mdns);
    stats.socketWarnings = 0;
    const fqdn = instanceFqdn(self).toLowerCase();
    if (await probeName(mdns, fqdn)) {
      throw new SeqError(ErrorCode.DISCOVERY_NAME_CONFLICT, `another process announces ${fqdn}`);
    }
    return new DiscoverySession(bonjour, mdns, self, fqdn, subnet, o, multicast, stats);
  } catch (err) {
    await destroyBounded(bonjour, GOODBYE_WAIT_MS);
    throw err;
  }
}

type Resolved = typeof DEFAULTS & DiscoveryOptions;
type MutableStats = { -readonly [K in keyof DiscoveryStats]: number };

class DiscoverySession implements Discovery {
  readonly instance: string;
  readonly multicast: MulticastSettings;
  readonly #bonjour: Bonjour;
  readonly #mdns: MdnsLike;
  readonly #table: PeerTable;
  readonly #o: Resolved;
  readonly #subnet: Subnet;
  readonly #stats: MutableStats;
  readonly #timer: NodeJS.Timeout;
  readonly #onResponse: (packet: unknown, rinfo: unknown) => void;
  #stopping: Promise<void> | null = null;
  #lastQueryMs = 0;

  constructor(bonjour: Bonjour, mdns: MdnsLike, self: Announcement, fqdn: string, subnet: Subnet,
    o: Resolved, multicast: MulticastSettings, stats: MutableStats) {
    this.#subnet = subnet;
    this.instance = fqdn;
    this.multicast = multicast;
    this.#bonjour = bonjour;
    this.#mdns = mdns;
    this.#o = o;
    this.#stats = stats;
    this.#table = new PeerTable(o.peersMax, o.peerTtlMs);
    this.#onResponse = (packet, rinfo) => this.#handle(packet, rinfo);
    mdns.on('response', this.#onResponse);
    bonjour.publish({
      name: instanceName(self), type: SERVICE_TYPE, port: self.port, txt: encodeTxt(self),
      // Our own host name per instance: processes sharing a machine would otherwise announce
      // conflicting A records under one os.hostname().
      host: `${instanceName(self)}.local`, probe: false, disableIPv6: true,
    });
    this.#query();
    this.#timer = setInterval(() => this.#tick(), Math.min(o.queryIntervalMs, o.peerTtlMs / 2));
    this.#timer.unref();
  }

  peers(): PeerInfo[] {
    return this.#table.list();
  }

  stats(): DiscoveryStats {
    return { ...this.#stats };
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#timer);
    this.#mdns.removeListener('response', this.#onResponse);
    await new Promise<void>((resolve) => {
      // Goodbyes (TTL 0) go out first; the socket closes once they are sent, or after a
      // bounded wait if the send never completes.
      const destroy = (): void => {
        clearTimeout(guard);
        void destroyBounded(this.#bonjour, GOODBYE_WAIT_MS).then(resolve);
      };
      const guard = setTimeout(destroy, GOODBYE_WAIT_MS);
      this.#bonjour.unpublishAll(destroy);
    });
    this.#table.clear();
  }

  #tick(): void {
    const now = performance.now();
    for (const peer of this.#table.expire(now)) {
      this.#stats.expired++;
      this.#emit(() => this.#o.onPeerGone?.(peer, 'expired'));
    }
    if (now - this.#lastQueryMs >= this.#o.queryIntervalMs * 0.9) this.#query();
  }

  #query(): void {
    this.#lastQueryMs = performance.now();
    this.#mdns.query(SERVICE_FQDN, 'PTR');
  }

  #handle(packet: unknown, rinfo: unknown): void {
    if (this.#stopping !== null) return;
    const source = sourceAddress(rinfo);
    if (!this.#subnet.contains(source)) {
      this.#stats.foreignSource++;
      return;
    }
    const parsed = parseResponse(packet);
    this.#stats.invalid += parsed.invalidCount;
    for (const gone of parsed.goodbyes) {
      const peer = gone === this.instance ? undefined : this.#table.remove(gone);
      if (peer === undefined) continue;
      this.#stats.goodbyes++;
      this.#emit(() => this.#o.onPeerGone?.(peer, 'goodbye'));
    }
    const now = performance.now();
    for (const { fqdn, announcement } of parsed.announcements) {
      if (fqdn === this.instance) continue;
      if (announcement.cluster !== this.#o.cluster) {
        this.#stats.otherCluster++;
        continue;
      }
      // An address off this link would have routers and agents dial anywhere a packet names.
      if (!this.#subnet.contains(announcement.host)) {
        this.#stats.foreignSource++;
        continue;
      }
      const { outcome, peer } = this.#table.upsert(fqdn, announcement, source, now);
      if (outcome === 'full') this.#stats.tableFull++;
      if ((outcome === 'added' || outcome === 'changed') && peer !== undefined) {
        this.#emit(() => this.#o.onPeer?.(peer, outcome));
      }
    }
  }

  /** Runs a caller's callback; a throw is re-raised outside the socket handler, state intact. */
  #emit(call: () => void): void {
    try {
      call();
    } catch (err) {
      process.nextTick(() => { throw err; });
    }
  }
}

function checkOptions(self: Announcement, o: Resolved): Subnet {
  const problem = announcementProblem(self) ?? numericProblem(o);
  if (problem !== null) throw new SeqError(ErrorCode.DISCOVERY_CONFIG, problem);
  const subnet = localSubnet(self.host);
  if (subnet === null) {
    throw new SeqError(ErrorCode.DISCOVERY_CONFIG, `host ${self.host} is not an address of a local interface`);
  }
  return subnet;
}

function numericProblem(o: Resolved): string | null {
  if (!(o.queryIntervalMs >= 50 && o.queryIntervalMs <= 3_600_000)) return 'queryIntervalMs must be in 50..3600000';
  if (!(o.peerTtlMs > o.queryIntervalMs)) return 'peerTtlMs must exceed queryIntervalMs';
  if (!Number.isInteger(o.peersMax) || o.peersMax < 1 || o.peersMax > 65_536) return 'peersMax must be in 1..65536';
  if (!Number.isInteger(o.mdnsPort) || o.mdnsPort < 1 || o.mdnsPort > 65535) return 'mdnsPort must be in 1..65535';
  return null;
}

function sourceAddress(rinfo: unknown): string {
  const address = (rinfo as { address?: unknown } | null)?.address;
  return typeof address === 'string' ? address : '';
}
