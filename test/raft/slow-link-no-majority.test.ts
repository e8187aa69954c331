/**
 * From a review of leader-clock.ts: 2 of 3 nodes up (n3 down), and the link n1 <-> n2 is slower
 * than the traffic on it (a catch-up or a write burst over a ~100 Mbit/s link: the 64 MiB peer
 * queue is ~5 s deep). No other majority exists, so replacing the leader cannot help. Same
 * harness as slow-link.test.ts: FIFO per direction on n1's link, a few messages per tick; 50 ms
 * ticks. A trade-off, pinned here: with stamps the leader steps down once its answers come back
 * late and is elected again once the queue drained, so the shard is leaderless in stretches
 * (each under an election timeout or two) but commits about twice what it did without stamps,
 * where the queue, and every write's latency, grew without bound.
 */
import test from 'ava';
import type { Message } from '../../node/raft/types.ts';
import { Network } from './helpers/network.ts';

const TICK_MS = 50;
const SEED = Number(process.env.SEQDB_SEED ?? 7);

function run(perTick: number, ticks: number, stamps: boolean) {
  let nowMs = 0;
  const opts = stamps ? { clockMs: () => nowMs, staleAfterMs: 2 * 10 * TICK_MS } : {};
  const net = new Network(['n1', 'n2', 'n3'], { electionTimeoutTicks: 10, ...opts }, SEED);
  net.elect('n1');
  net.isolate('n3');
  const egress: Message[] = [];
  const ingress: Message[] = [];
  const deliver = (m: Message) => {
    if (m.to === 'n3' || m.from === 'n3') return;
    net.get(m.to).node.step(m);
    while (net.drain(m.to));
  };
  const pump = () => {
    for (let g = 0; g < 10_000 && net.queue.length > 0; g++) {
      const m = net.queue.shift()!;
      if (m.to === 'n3' || m.from === 'n3') continue;
      if (m.from === 'n1') egress.push(m);
      else if (m.to === 'n1') ingress.push(m);
      else deliver(m);
    }
  };
  const serve = (q: Message[]) => {
    for (let n = 0; n < perTick && q.length > 0; n++) {
      deliver(q.shift()!);
      pump();
    }
  };
  const leaderChanges: string[] = [];
  let last = 'n1';
  let proposals = 0;
  for (let tick = 1; tick <= ticks; tick++) {
    nowMs += TICK_MS;
    for (const id of ['n1', 'n2']) net.tick(id);
    net.drainAll();
    for (const id of ['n1', 'n2']) {
      if (net.raw(id).status().role !== 'leader') continue;
      // A write every other tick: 1.5 messages per tick to n2 with the heartbeats.
      if (tick % 2 === 0) {
        try {
          net.raw(id).propose(new TextEncoder().encode(`${id}-${tick}`));
          proposals++;
        } catch {}
      }
    }
    net.drainAll();
    pump();
    serve(egress);
    serve(ingress);
    const l = ['n1', 'n2'].filter((id) => net.raw(id).status().role === 'leader').join(',') || '-';
    if (l !== last) leaderChanges.push(`${tick}:${l}`);
    last = l;
  }
  const committed = net.appliedData('n2').length;
  return { leaderChanges, committed, proposals, term: net.raw('n1').status().term };
}

test('2 of 3 up, a link that carries less than its traffic: the leader steps down and returns, commits more than without stamps', (t) => {
  const base = run(1, 600, false);
  const r = run(1, 600, true);
  t.log(JSON.stringify({ without: { committed: base.committed, changes: base.leaderChanges.length }, with: { ...r, leaderChanges: r.leaderChanges.slice(0, 12), changes: r.leaderChanges.length } }));
  t.deepEqual(base.leaderChanges, [], 'without stamps the leader stays');
  t.true(r.committed > base.committed, `committed ${r.committed} (without stamps ${base.committed})`);
  // Bounded: no runaway of terms, and no leaderless stretch beyond 3 s.
  t.true(r.term <= 20, `term ${r.term}`);
  const at = r.leaderChanges.map((c) => ({ tick: Number(c.split(':')[0]), who: c.split(':')[1] }));
  for (let i = 0; i < at.length; i++) {
    if (at[i]!.who !== '-') continue;
    const back = at[i + 1]?.tick ?? 600;
    t.true(back - at[i]!.tick <= 60, `leaderless from tick ${at[i]!.tick} to ${back}`);
  }
});
