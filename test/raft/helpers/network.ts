/**
 * A tiny in-test network of RawNodes over MemoryStorage. Messages are queued and delivered
 * by hand (or until quiet); the driver loop follows the contract: persist snapshot, entries,
 * hard state -> send -> apply -> advance.
 */
import { RawNode } from '../../../node/raft/raw-node.ts';
import { MemoryStorage } from '../../../node/raft/memory-storage.ts';
import type { ConfState, Entry, Message, NodeId, RaftConfig, ReadState, Ready, Snapshot } from '../../../node/raft/types.ts';

export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'rng'>>;

export interface SimNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  readies: Ready[];
  /** Snapshots installed through Ready.snapshot. */
  installed: Snapshot[];
  opts: NodeOptions;
}

export class Network {
  readonly nodes = new Map<NodeId, SimNode>();
  queue: Message[] = [];
  /** Delivered messages, for assertions. */
  log: Message[] = [];
  /** Links cut in one direction: "from->to". */
  private readonly cut = new Set<string>();
  /** Drop (true) any message this returns true for. */
  filter: ((m: Message) => boolean) | null = null;
  private seed: number;

  constructor(ids: NodeId[], opts: NodeOptions = {}, seed = 1, conf?: ConfState) {
    this.seed = seed;
    const c = conf ?? { voters: ids, learners: [] };
    for (const id of ids) this.add(id, new MemoryStorage(c), opts);
  }

  /**
   * Nodes here tell followers a moved commit at once (sendCommitOnlyApps) unless a test says
   * otherwise: these tests deliver until quiet without ticking, and check every node's applied
   * entries. The driver's default (the commit rides the next app or heartbeat) has its own tests
   * (replication.test.ts) and is what the simulator runs.
   */
  add(id: NodeId, storage: MemoryStorage, opts: NodeOptions = {}, applied = 0): SimNode {
    const node = new RawNode({ id, storage, rng: seededRng(this.seed++), applied, sendCommitOnlyApps: true, ...opts });
    const n: SimNode = { id, node, storage, applied: [], readStates: [], readies: [], installed: [], opts };
    this.nodes.set(id, n);
    return n;
  }

  get(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.get(id).node;
  }

  /** Crash: everything not persisted is lost; restart from storage with what was applied. */
  restart(id: NodeId): SimNode {
    const old = this.get(id);
    // The state machine (the applied list) is durable here, with its applied index.
    const applied = old.node.status().applied;
    const n = this.add(id, old.storage, old.opts, Math.min(applied, old.storage.initialState().hardState.commit));
    n.applied = old.applied;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return n;
  }

  /** Runs one driver iteration for a node; returns the Ready handled, if any. */
  drain(id: NodeId): Ready | undefined {
    const n = this.get(id);
    if (!n.node.hasReady()) return undefined;
    const rd = n.node.ready();
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      n.installed.push(rd.snapshot);
      // The state machine restores the image: here the image is the applied payload list.
      const image = JSON.parse(new TextDecoder().decode(rd.snapshot.data)) as string[];
      n.applied = image.map((d, i) => ({ index: i + 1, term: 0, type: 0, data: enc(d) }));
    }
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.queue.push(m);
    for (const e of rd.committedEntries) n.applied.push(e);
    for (const rs of rd.readStates) n.readStates.push(rs);
    n.readies.push(rd);
    n.node.advance();
    return rd;
  }

  drainAll(): void {
    for (const id of this.nodes.keys()) while (this.drain(id));
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
    this.filter = null;
  }

  private dropped(m: Message): boolean {
    return this.cut.has(`${m.from}->${m.to}`) || !this.nodes.has(m.to) || (this.filter?.(m) ?? false);
  }

  /** Delivers queued messages (and what they cause) until nothing moves or `maxSteps` messages. */
  deliver(maxSteps = 100_000): number {
    let steps = 0;
    this.drainAll();
    while (this.queue.length > 0 && steps < maxSteps) {
      const m = this.queue.shift()!;
      steps++;
      if (this.dropped(m)) continue;
      this.log.push(m);
      this.get(m.to).node.step(m);
      while (this.drain(m.to));
    }
    return steps;
  }

  /** Delivers only the currently queued messages matching `pred`, leaving the rest queued. */
  deliverWhere(pred: (m: Message) => boolean): void {
    this.drainAll();
    const now = this.queue;
    this.queue = [];
    const keep: Message[] = [];
    for (const m of now) {
      if (!pred(m)) keep.push(m);
      else if (!this.dropped(m)) {
        this.log.push(m);
        this.get(m.to).node.step(m);
      }
    }
    this.queue = keep.concat(this.queue);
    this.drainAll();
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).node.tick();
  }

  /** Ticks every node once and delivers, `n` times. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const s of this.nodes.values()) s.node.tick();
      this.deliver();
    }
  }

  /** Forces `id` to campaign and runs the election to completion. */
  elect(id: NodeId): void {
    this.raw(id).campaign();
    this.deliver();
  }

  leader(): NodeId | null {
    for (const s of this.nodes.values()) if (s.node.status().role === 'leader') return s.id;
    return null;
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const t = this.raw(id).propose(new TextEncoder().encode(text));
    this.deliver();
    return t;
  }

  /** Snapshot of a node at its applied index (image: applied payloads), then compaction. */
  compact(id: NodeId): Snapshot {
    const n = this.get(id);
    const st = n.node.status();
    const image = enc(JSON.stringify(this.appliedData(id)));
    const snap = n.storage.createSnapshot(st.applied, st.conf, image);
    n.storage.compact(st.applied);
    return snap;
  }

  /** Applied normal payloads of a node, as strings (no-ops skipped). */
  appliedData(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === 0 && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

export function msg(m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0, ...m };
}

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: 0, data: enc(data) };
}
