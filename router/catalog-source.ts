/**
 * Where a router gets the committed catalog: `CLUSTER CATALOG` on the catalog shard's leader,
 * found from --join addresses, discovery (nodes announcing shard "1") and the catalog's own
 * record of shard "1", following NOTLEADER hints. Refreshes are coalesced (one in flight) and
 * spaced (refreshGapMs), so a burst of MOVED replies costs one fetch.
 */
import { CATALOG_SHARD_ID, catalogFromJson } from '../node/ownership/catalog.ts';
import type { NodePool } from './node-connection.ts';
import type { ShardMap } from './shard-map.ts';

export interface CatalogSourceOptions {
  readonly pool: NodePool;
  readonly map: ShardMap;
  /** Addresses to ask, in addition to the catalog shard's known members (--join, discovery). */
  readonly seeds: () => readonly string[];
  /** Minimum time between two fetches. Default 200 ms. */
  readonly refreshGapMs?: number;
  /** Timeout of one CLUSTER CATALOG request. Default 1000 ms. */
  readonly requestTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export class CatalogSource {
  private inflight: Promise<boolean> | null = null;
  private lastFetchMs = Number.NEGATIVE_INFINITY;
  fetches = 0;
  failures = 0;

  constructor(private readonly o: CatalogSourceOptions) {}

  /** Fetches the catalog (or joins the fetch in flight); resolves whether one was installed. */
  refresh(): Promise<boolean> {
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetch(): Promise<boolean> {
    // Monotonic: with Date.now a host clock stepped back by an hour made this gap an hour long
    // (every refresh joined to it: no catalog for an hour; a clock review).
    const gap = (this.o.refreshGapMs ?? 200) - (performance.now() - this.lastFetchMs);
    if (gap > 0) await new Promise((r) => setTimeout(r, gap));
    this.lastFetchMs = performance.now();
    this.fetches++;
    const cat = this.o.map.entry(CATALOG_SHARD_ID);
    const tried = new Set<string>();
    const queue = [...(cat.leader ? [cat.leader] : []), ...cat.members, ...this.o.seeds()];
    // Bounded: each address at most once per fetch, plus the hints they give.
    while (queue.length > 0 && tried.size < 64) {
      const address = queue.shift()!;
      if (tried.has(address)) continue;
      tried.add(address);
      const out = await this.o.pool.send(address, ['CLUSTER', 'CATALOG'], this.o.requestTimeoutMs ?? 1000);
      if (!out.ok) continue;
      const reply = out.reply;
      if (reply.kind === 'string') {
        const view = catalogFromJson(reply.value.toString('utf8'));
        if (view === null) continue;
        cat.leader = address;
        this.o.map.update(view);
        return true;
      }
      if (reply.kind === 'error' && reply.word === 'NOTLEADER') {
        const hint = reply.message.split(' ')[1];
        if (hint !== undefined && hint !== '?' && !tried.has(hint)) queue.unshift(hint);
        if (cat.leader === address) cat.leader = null;
      }
    }
    this.failures++;
    return false;
  }
}
