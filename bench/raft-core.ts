/**
 * Microbenchmark of the Raft core alone: 3 nodes, MemoryStorage, an in-memory network that
 * delivers everything at once. The leader gets `batch` proposals per loop; each loop then
 * pumps Readies and messages until quiet. Prints committed proposals per second per batch size.
 *
 *   node --import=tsx bench/raft-core.ts [--seconds 2] [--batches 1,16,256] [--bytes 16]
 *
 * Not part of npm test. Wall-clock time is fine here: this measures, it decides nothing.
 */
import { toolArgs } from './tool-args.ts';
import { MemoryStorage } from '../node/raft/memory-storage.ts';
import { RawNode } from '../node/raft/raw-node.ts';
import type { Message, NodeId } from '../node/raft/types.ts';
import { Rng } from '../test/sim/rng.ts';

const USAGE = 'Usage: node --import=tsx bench/raft-core.ts [--seconds 2] [--batches 1,16,256] [--bytes 16]';

interface Member {
  readonly id: NodeId;
  readonly raw: RawNode;
  readonly storage: MemoryStorage;
  applied: number;
}

/**
 * Compact the log every this many applied entries, keeping COMPACT_KEEP below the snapshot:
 * memory stays flat, and MemoryStorage.append (which copies the whole in-memory log) stays
 * cheap, so the numbers measure the core rather than the test storage.
 */
const COMPACT_EVERY = 4096;
const COMPACT_KEEP = 256;
/** Loops run at most this many times per batch size (a bound besides the clock). */
const LOOPS_MAX = 5_000_000;

function cluster(seed: number): Member[] {
  const rng = new Rng(seed);
  const voters = ['n1', 'n2', 'n3'];
  return voters.map((id) => {
    const storage = new MemoryStorage({ voters, learners: [] });
    const r = rng.fork();
    return { id, storage, raw: new RawNode({ id, storage, rng: () => r.next() }), applied: 0 };
  });
}

/** Drains every Ready and delivers every message until nothing moves; returns entries applied on the leader. */
function pump(members: Member[], byId: Map<NodeId, Member>, leader: Member, stats: { readies: number; messages: number }): number {
  const queue: Message[] = [];
  let appliedOnLeader = 0;
  for (let round = 0; round < 1000; round++) {
    let moved = false;
    for (const m of members) {
      while (m.raw.hasReady()) {
        moved = true;
        stats.readies++;
        const rd = m.raw.ready();
        if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
        m.storage.append(rd.entries);
        if (rd.hardState) m.storage.setHardState(rd.hardState);
        for (const msg of rd.messages) queue.push(msg);
        const n = rd.committedEntries.length;
        if (n > 0) {
          m.applied = rd.committedEntries[n - 1]!.index;
          if (m === leader) appliedOnLeader += n;
        }
        m.raw.advance();
        if (m.applied - (m.storage.firstIndex() - 1) > COMPACT_EVERY) {
          m.storage.createSnapshot(m.applied, m.raw.status().conf, new Uint8Array(0));
          m.storage.compact(m.applied - COMPACT_KEEP);
        }
      }
    }
    stats.messages += queue.length;
    for (const msg of queue.splice(0)) {
      moved = true;
      byId.get(msg.to)!.raw.step(msg);
    }
    if (!moved) return appliedOnLeader;
  }
  throw new Error('pump did not settle');
}

function electLeader(members: Member[], byId: Map<NodeId, Member>): Member {
  members[0]!.raw.campaign();
  const stats = { readies: 0, messages: 0 };
  for (let i = 0; i < 100; i++) {
    pump(members, byId, members[0]!, stats);
    const l = members.find((m) => m.raw.status().role === 'leader');
    // Wait for the leader's no-op to commit so proposals are not throttled by an empty window.
    if (l && l.raw.status().commit === l.raw.status().lastIndex) return l;
    for (const m of members) m.raw.tick();
  }
  throw new Error('no leader');
}

function runBatch(batch: number, seconds: number, payloadBytes: number): { perSecond: number; committed: number; readiesPerEntry: number; messagesPerEntry: number; refused: number } {
  const members = cluster(batch);
  const byId = new Map(members.map((m) => [m.id, m]));
  const leader = electLeader(members, byId);
  const payload = new Uint8Array(payloadBytes).fill(0x61);
  const stats = { readies: 0, messages: 0 };
  let committed = 0;
  let refused = 0;
  const began = performance.now();
  const until = began + seconds * 1000;
  for (let loop = 0; loop < LOOPS_MAX && performance.now() < until; loop++) {
    for (let i = 0; i < batch; i++) {
      try {
        leader.raw.propose(payload);
      } catch {
        refused++; // UNCOMMITTED_FULL: the window is full until this loop commits
        break;
      }
    }
    committed += pump(members, byId, leader, stats);
    if (loop % 64 === 0) for (const m of members) m.raw.tick();
  }
  const secs = (performance.now() - began) / 1000;
  if (leader.raw.status().role !== 'leader') throw new Error('leadership lost during the benchmark');
  return {
    perSecond: committed / secs,
    committed,
    readiesPerEntry: stats.readies / Math.max(1, committed),
    messagesPerEntry: stats.messages / Math.max(1, committed),
    refused,
  };
}

function main(): void {
  const { values } = toolArgs('bench/raft-core.ts', USAGE, {
    options: {
      seconds: { type: 'string', default: '2' },
      batches: { type: 'string', default: '1,16,256' },
      bytes: { type: 'string', default: '16' },
    },
  });
  const seconds = Number(values.seconds);
  const bytes = Number(values.bytes);
  const batches = values.batches.split(',').map(Number);
  console.log(`Raft core, 3 nodes, in-memory storage and network, ${bytes}-byte proposals, ${seconds}s per row`);
  console.log('batch | committed/s | committed | readies/entry | msgs/entry | refused');
  console.log('----- | ----------- | --------- | ------------- | ---------- | -------');
  for (const b of batches) {
    const r = runBatch(b, seconds, bytes);
    console.log(
      `${String(b).padStart(5)} | ${Math.round(r.perSecond).toLocaleString('en-US').padStart(11)} | ${String(r.committed).padStart(9)} | ` +
        `${r.readiesPerEntry.toFixed(3).padStart(13)} | ${r.messagesPerEntry.toFixed(3).padStart(10)} | ${String(r.refused).padStart(7)}`,
    );
  }
}

main();
