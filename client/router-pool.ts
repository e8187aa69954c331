import { Connection, type ConnectionOptions } from './connection.ts';
import type { Address } from './address.ts';
import { monoNowMs } from '../shared/mono-clock.ts';

/** Addresses learned from NOTLEADER/MOVED hints, beyond the configured routers. */
export const LEARNED_ROUTERS_MAX = 16;

interface Router {
  readonly address: Address;
  readonly connections: (Connection | null)[];
  nextConnection: number;
  /** Avoided for new attempts until then, after a connection to it failed. */
  downUntilMs: number;
}

export interface PoolOptions extends ConnectionOptions {
  readonly connectionsPerRouter: number;
  /** How long a router whose connection failed is avoided while others look healthy. */
  readonly routerDownMs: number;
}

/**
 * The routers a client knows and its connections to them. All calls go to the preferred router
 * (so a client's calls share few sockets and batch well); a call whose attempt failed there moves
 * on to the next router, and a connection failure moves the preferred router for everyone.
 */
export class RouterPool {
  readonly #options: PoolOptions;
  readonly #routers: Router[];
  readonly #configuredCount: number;
  #preferred = 0;
  #closed = false;

  constructor(addresses: readonly Address[], options: PoolOptions) {
    this.#options = options;
    this.#routers = addresses.map((address) => this.#newRouter(address));
    this.#configuredCount = addresses.length;
  }

  get preferred(): number {
    return this.#preferred;
  }

  addressOf(index: number): Address {
    return this.#routers[index]!.address;
  }

  /** A live (or connecting) connection to router `index`, opened on demand; round-robin. */
  connection(index: number): Connection {
    const router = this.#routers[index]!;
    const slot = router.nextConnection;
    router.nextConnection = (slot + 1) % router.connections.length;
    const existing = router.connections[slot];
    if (existing && !existing.dead) return existing;
    const connection = new Connection(router.address, this.#options, (dead) => this.#onDead(index, slot, dead));
    router.connections[slot] = connection;
    if (this.#closed) connection.destroy(new Error('client closed'));
    return connection;
  }

  /**
   * The router for a call's next attempt after one on `failedIndex` failed: the hinted address
   * if the server named one, else the next router that is not marked down (or simply the next
   * one if all are down: waiting is the backoff's job, not the pool's).
   */
  nextAfter(failedIndex: number, hint: Address | null): number {
    if (hint !== null) {
      const hinted = this.#indexOfHint(hint);
      if (hinted !== -1) return hinted;
    }
    const count = this.#routers.length;
    const nowMs = monoNowMs();
    for (let step = 1; step <= count; step++) {
      const index = (failedIndex + step) % count;
      if (this.#routers[index]!.downUntilMs <= nowMs) return index;
    }
    return (failedIndex + 1) % count;
  }

  /** Marks a router as unwell after a connection failure; moves everyone off it. */
  markDown(index: number): void {
    const router = this.#routers[index]!;
    router.downUntilMs = monoNowMs() + this.#options.routerDownMs;
    if (this.#preferred === index) this.#preferred = this.nextAfter(index, null);
  }

  /** Sends later calls to router `index` (the leader a NOTLEADER hint named). */
  prefer(index: number): void {
    this.#preferred = index;
  }

  /** Closes every connection; requests still in them fail into their calls' retry paths. */
  destroy(error: Error): void {
    this.#closed = true;
    for (const router of this.#routers) {
      for (const connection of router.connections) connection?.destroy(error);
    }
  }

  #onDead(index: number, slot: number, dead: Connection): void {
    const router = this.#routers[index]!;
    if (router.connections[slot] === dead) router.connections[slot] = null;
  }

  #indexOfHint(hint: Address): number {
    const found = this.#routers.findIndex((r) => r.address.key === hint.key);
    if (found !== -1) return found;
    if (this.#routers.length >= this.#configuredCount + LEARNED_ROUTERS_MAX) return -1;
    this.#routers.push(this.#newRouter(hint));
    return this.#routers.length - 1;
  }

  #newRouter(address: Address): Router {
    return {
      address,
      connections: new Array<Connection | null>(this.#options.connectionsPerRouter).fill(null),
      nextConnection: 0,
      downUntilMs: 0,
    };
  }
}
