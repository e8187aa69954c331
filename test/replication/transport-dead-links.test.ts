/**
 * Dead peer links (node/replication/transport.ts): a link whose peer leaves what we send
 * unanswered is failed and re-dialed; a live, answering peer keeps its one connection; a peer
 * that connects to us cuts our link's backoff short. Real sockets on loopback. The silent-drop
 * partition itself is covered with real processes in partition-rejoin.test.ts.
 */
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { Transport, type TransportOptions } from '../../node/replication/transport.ts';
import type { Message } from '../../node/raft/types.ts';
import type { ChunkedSnapshot } from '../../node/replication/snapshot-images.ts';
import { freePort, sleep } from './helpers/cluster.ts';

interface Harness {
  readonly t: Transport;
  readonly got: Message[];
  readonly logs: string[];
  readonly unreachable: string[];
  readonly hellos: string[];
}

async function start(tt: { teardown(fn: () => unknown): void }, id: string, addrs: Map<string, string>, over: Partial<TransportOptions> = {}, port = 0): Promise<Harness> {
  const h = { got: [] as Message[], logs: [] as string[], unreachable: [] as string[], hellos: [] as string[] };
  let advertise = '';
  const t: Transport = new Transport({
    cluster: 'c1', shard: 's1', nodeId: id, advertise: () => advertise,
    addressOf: (peer) => addrs.get(peer), isRemoved: () => false,
    onMessage: (m) => h.got.push(m), onPeerHello: (hello) => h.hellos.push(hello.nodeId),
    onControl: async () => ({}), onClientSocket: (s) => s.destroy(),
    onUnreachable: (peer) => h.unreachable.push(peer), onSnapshotSent: () => {},
    log: (l) => h.logs.push(l), backoffMsMin: 20, backoffMsMax: 100, peerSilenceMsMax: 300,
    ...over,
  });
  const bound = await t.listen('127.0.0.1', port);
  advertise = `127.0.0.1:${bound}`;
  addrs.set(id, advertise);
  tt.teardown(() => t.close());
  return { t, ...h };
}

const heartbeat = (from: string, to: string, type: 'heartbeat' | 'heartbeatResp' = 'heartbeat'): Message => ({
  type, from, to, term: 1, index: 0, logTerm: 0, commit: 0, entries: [], reject: false, rejectHint: 0,
});

/** A peer that accepts connections and never answers; it reads what comes, or never does. */
async function silentPeer(t: { teardown(fn: () => unknown): void }, mode: 'reads' | 'never reads'): Promise<{ addr: string; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    if (mode === 'reads') s.resume();
    else s.pause();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  return { addr: `127.0.0.1:${(server.address() as { port: number }).port}`, accepted };
}

test('a peer that accepts our bytes but never answers is declared dead and re-dialed', async (t) => {
  // A black hole: the kernel takes what we write (like a SIGSTOPped node, or a path that drops
  // the peer's answers), so the socket never errors by itself.
  const hole = await silentPeer(t, 'reads');
  const addrs = new Map([['b', hole.addr]]);
  const a = await start(t, 'a', addrs);
  const stopAt = Date.now() + 1500;
  while (Date.now() < stopAt) {
    a.t.send(heartbeat('a', 'b'));
    await sleep(20);
  }
  // 300 ms plus 3 handshake round trips (a few ms on loopback; at most 2 s however slow the handshake).
  const limits = a.logs.map((l) => /nothing heard for (\d+) ms/.exec(l)?.[1]).filter((ms) => ms !== undefined).map(Number);
  t.true(limits.length > 0 && limits.every((ms) => ms >= 300 && ms <= 2_300), a.logs.join('\n'));
  t.true(a.unreachable.includes('b'));
  // 1.5 s of sending at a 300 ms silence limit: several connections, each given up on.
  t.true(hole.accepted.length >= 3, `connections: ${hole.accepted.length}`);
});

test('a peer that answers keeps its one connection (no false alarm)', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs);
  const b = await start(t, 'b', addrs);
  // b answers every heartbeat on its own link to a, as Raft does.
  const stopAt = Date.now() + 1200;
  let sent = 0;
  while (Date.now() < stopAt) {
    a.t.send(heartbeat('a', 'b'));
    sent++;
    await sleep(20);
    for (const m of b.got.splice(0)) b.t.send(heartbeat('b', m.from, 'heartbeatResp'));
  }
  await sleep(50);
  t.true(a.got.length > sent / 2, `${a.got.length} answers to ${sent} heartbeats`);
  t.deepEqual(a.unreachable, []);
  t.false(a.logs.some((l) => l.includes('nothing heard')), a.logs.join('\n'));
  t.deepEqual(b.hellos, ['a'], 'one connection from a to b');
});

test('a peer connecting to us cuts our link to it short of its backoff', async (t) => {
  const addrs = new Map<string, string>();
  const bPort = await freePort();
  addrs.set('b', `127.0.0.1:${bPort}`);
  // A 10 s backoff: without the shortcut, a's link to b would stay down through this test.
  const a = await start(t, 'a', addrs, { backoffMsMin: 10_000, backoffMsMax: 10_000 });
  a.t.send(heartbeat('a', 'b')); // refused: b is not listening yet
  const deadline = Date.now() + 2000;
  while (!a.unreachable.includes('b') && Date.now() < deadline) await sleep(10);
  t.deepEqual(a.unreachable, ['b']);
  const b = await start(t, 'b', addrs, {}, bPort);
  b.t.send(heartbeat('b', 'a'));
  while (a.got.length === 0 && Date.now() < deadline + 2000) await sleep(10);
  t.is(a.got.length, 1, 'b reached a');
  const sentAt = Date.now();
  while (b.got.length === 0 && Date.now() - sentAt < 1000) {
    a.t.send(heartbeat('a', 'b'));
    await sleep(20);
  }
  t.is(b.got.length > 0, true, 'a re-dialed b at once instead of after 10 s');
});

test('a snapshot image a peer stops taking fails the link after the stall limit and lets go of the image', async (t) => {
  // Accepts and never reads: the kernel buffers fill, the socket stops draining, no error comes.
  const frozen = await silentPeer(t, 'never reads');
  const addrs = new Map([['b', frozen.addr]]);
  const sent: boolean[] = [];
  const a = await start(t, 'a', addrs, { snapshotStallMsMax: 300, onSnapshotSent: (_id, ok) => sent.push(ok) });
  let pulled = 0;
  let released = false;
  const snapshot: ChunkedSnapshot = {
    meta: { index: 10, term: 1, conf: { voters: ['a', 'b'], learners: [] } },
    bytes: 64 << 20,
    *chunks() {
      try {
        for (let i = 0; i < 64; i++) {
          pulled++;
          yield Buffer.alloc(1 << 20, i);
        }
      } finally {
        released = true;
      }
    },
    get data(): Uint8Array {
      throw new Error('the link must not read the image whole');
    },
  };
  a.t.send({ ...heartbeat('a', 'b'), type: 'snap', snapshot });
  // A second image while the first is on its way is refused at once, never read.
  let secondPulled = false;
  const second: ChunkedSnapshot = { meta: snapshot.meta, bytes: 1, data: new Uint8Array(0), *chunks() { secondPulled = true; yield Buffer.alloc(1); } };
  a.t.send({ ...heartbeat('a', 'b'), type: 'snap', snapshot: second });
  t.deepEqual(sent, [false]);
  t.false(secondPulled);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && sent.length === 1) await sleep(20);
  t.deepEqual(sent, [false, false]);
  t.true(released, 'the image (and its read transaction) was let go of');
  t.true(pulled < 64, `only what the socket took was read: ${pulled} of 64 chunks`);
  t.true(a.logs.some((l) => l.includes('snapshot image not taken')), a.logs.join('\n'));
});
