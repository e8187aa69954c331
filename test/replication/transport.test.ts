import test from 'ava';
import { connect, type Socket } from 'node:net';
import { Transport, type TransportOptions } from '../../node/replication/transport.ts';
import { sniff } from '../../node/replication/peer-hello.ts';
import type { Message } from '../../node/raft/types.ts';
import { freePort, sleep } from './helpers/cluster.ts';

interface Harness {
  readonly t: Transport;
  readonly port: number;
  readonly got: Message[];
  readonly logs: string[];
  readonly clients: { socket: Socket; head: Buffer }[];
  readonly unreachable: string[];
  removed: Set<string>;
}

async function start(
  tt: { teardown(fn: () => unknown): void },
  id: string,
  addrs: Map<string, string>,
  over: Partial<TransportOptions> = {},
  port = 0,
): Promise<Harness> {
  const h = { got: [] as Message[], logs: [] as string[], clients: [] as { socket: Socket; head: Buffer }[], unreachable: [] as string[], removed: new Set<string>() };
  let advertise = '';
  const t = new Transport({
    cluster: 'c1', shard: 's1', nodeId: id, advertise: () => advertise,
    addressOf: (peer) => addrs.get(peer), isRemoved: (peer) => h.removed.has(peer),
    onMessage: (m) => h.got.push(m), onPeerHello: () => {},
    onControl: async (from, c) => ({ echo: c, from: from.nodeId }),
    onClientSocket: (socket, head) => {
      h.clients.push({ socket, head });
      socket.resume();
    },
    onUnreachable: (peer) => h.unreachable.push(peer), onSnapshotSent: () => {},
    log: (l) => h.logs.push(l), backoffMsMin: 20, backoffMsMax: 100,
    ...over,
  });
  const bound = await t.listen('127.0.0.1', port);
  advertise = `127.0.0.1:${bound}`;
  addrs.set(id, advertise);
  tt.teardown(() => t.close());
  return { t, port: bound, ...h };
}

const msg = (from: string, to: string, index: number): Message => ({
  type: 'app', from, to, term: 1, index, logTerm: 1, commit: 0, entries: [{ index: index + 1, term: 1, type: 0, data: Buffer.from('x') }], reject: false, rejectHint: 0,
});

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
}

test('sniff: peer hello, client bytes, partial magic, bad hello', (t) => {
  t.is(sniff(Buffer.from('PING\r\n')).kind, 'client');
  t.is(sniff(Buffer.from('*1\r\n$4\r\nPING\r\n')).kind, 'client');
  t.is(sniff(Buffer.from('SEQ')).kind, 'more');
  t.is(sniff(Buffer.from('SEQDB-PEER 1 c s')).kind, 'more');
  t.is(sniff(Buffer.from('SEQDB-PEX')).kind, 'client');
  const ok = sniff(Buffer.from('SEQDB-PEER 1 c1 s1 abc 127.0.0.1:5\nrest'));
  t.is(ok.kind, 'peer');
  if (ok.kind === 'peer') {
    t.deepEqual(ok.hello, { version: 1, cluster: 'c1', shard: 's1', nodeId: 'abc', addr: '127.0.0.1:5' });
    t.is(ok.rest.toString(), 'rest');
  }
  t.is(sniff(Buffer.from('SEQDB-PEER 9 c1 s1 abc a:1\n')).kind, 'bad');
  t.is(sniff(Buffer.from('SEQDB-PEER 1 c1 s1\n')).kind, 'bad');
  t.is(sniff(Buffer.concat([Buffer.from('SEQDB-PEER '), Buffer.alloc(600, 0x41)])).kind, 'bad');
});

test('messages flow both ways between two nodes on their one port', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs);
  const b = await start(t, 'b', addrs);
  for (let i = 0; i < 50; i++) a.t.send(msg('a', 'b', i));
  b.t.send(msg('b', 'a', 7));
  await until(() => b.got.length === 50 && a.got.length === 1);
  t.deepEqual(b.got.map((m) => m.index), Array.from({ length: 50 }, (_, i) => i));
  t.is(a.got[0]!.index, 7);
  t.is(Buffer.from(b.got[0]!.entries[0]!.data).toString(), 'x');
});

test('client bytes on the same port reach the client server intact, even split inside the magic prefix', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs);
  const s = connect({ port: a.port, host: '127.0.0.1' });
  t.teardown(() => s.destroy());
  s.write('SEQ');
  await sleep(50);
  s.write('UENCE\r\n');
  await until(() => a.clients.length === 1);
  t.is(a.clients[0]!.head.toString(), 'SEQUENCE\r\n');
});

test('peer traffic of another shard or cluster, or of a removed node, is refused and logged', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs);
  const otherShard = await start(t, 'x', addrs, { shard: 's2' });
  const otherCluster = await start(t, 'y', addrs, { cluster: 'c2' });
  const removed = await start(t, 'r', addrs);
  a.removed.add('r');
  otherShard.t.send(msg('x', 'a', 1));
  otherCluster.t.send(msg('y', 'a', 1));
  removed.t.send(msg('r', 'a', 1));
  await until(() => a.logs.length >= 3);
  await sleep(100);
  t.is(a.got.length, 0);
  t.true(a.logs.some((l) => /refused peer x@.*shard s2/.test(l)));
  t.true(a.logs.some((l) => /refused peer y@.*cluster c2/.test(l)));
  t.true(a.logs.some((l) => /refused peer r@.*removed/.test(l)));
  await until(() => otherShard.logs.some((l) => l.includes('SEQDB-PEER-REFUSED')));
  t.true(otherShard.logs.some((l) => l.includes('SEQDB-PEER-REFUSED')));
});

test('an unreachable peer is reported, sends are dropped during backoff, the link reconnects', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs);
  const port = await freePort();
  addrs.set('b', `127.0.0.1:${port}`);
  a.t.send(msg('a', 'b', 1));
  await until(() => a.unreachable.length > 0);
  t.deepEqual(a.unreachable.slice(0, 1), ['b']);
  const b = await start(t, 'b', addrs, {}, port);
  const deadline = Date.now() + 3000;
  for (let i = 0; b.got.length === 0 && Date.now() < deadline; i++) {
    a.t.send(msg('a', 'b', 100 + i));
    await sleep(20);
  }
  t.true(b.got.length > 0);
});

test('the per-peer queue is bounded: excess messages are dropped, not buffered', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs, { queueMessagesMax: 10 });
  const b = await start(t, 'b', addrs);
  // Queue while the connection is still being established.
  for (let i = 0; i < 1000; i++) a.t.send(msg('a', 'b', i));
  await until(() => b.got.length >= 10);
  await sleep(100);
  t.true(b.got.length >= 10 && b.got.length < 1000, `delivered ${b.got.length}`);
});

test('control requests get a reply', async (t) => {
  const addrs = new Map<string, string>();
  await start(t, 'a', addrs);
  const b = await start(t, 'b', addrs);
  t.deepEqual(await b.t.request(addrs.get('a')!, { op: 'probe' }), { echo: { op: 'probe' }, from: 'b' });
  const other = await start(t, 'z', addrs, { shard: 's9' });
  await t.throwsAsync(other.t.request(addrs.get('a')!, { op: 'probe' }), { message: /REFUSED/ });
});

test('a connection that stays silent is a client (a person at nc), not dropped', async (t) => {
  const addrs = new Map<string, string>();
  const a = await start(t, 'a', addrs);
  const s = connect({ port: a.port, host: '127.0.0.1' });
  t.teardown(() => s.destroy());
  const connectedAt = Date.now();
  await until(() => a.clients.length === 1, 10_000);
  t.is(a.clients.length, 1);
  t.true(Date.now() - connectedAt >= 900, 'handed over only after the silence');
  t.is(a.clients[0]!.head.length, 0);
  const got = new Promise<string>((resolve) => a.clients[0]!.socket.once('data', (d: Buffer) => resolve(d.toString())));
  s.write('PING\r\n');
  t.is(await got, 'PING\r\n');
});

test('hellos naming ever new ids keep a bounded table of last-heard times (the oldest goes)', async (t) => {
  t.timeout(60_000);
  const a = await start(t, 'a', new Map());
  const ids = Array.from({ length: 4200 }, (_, i) => `p${i}`);
  for (let at = 0; at < ids.length; at += 200) {
    await Promise.all(ids.slice(at, at + 200).map((id) => new Promise<void>((resolve) => {
      const s = connect(a.port, '127.0.0.1', () => s.write(`SEQDB-PEER 1 c1 s1 ${id} 127.0.0.1:9\n`));
      s.on('error', () => resolve());
      const poll = setInterval(() => {
        if (a.t.heardMs(id) > Number.NEGATIVE_INFINITY) { clearInterval(poll); s.destroy(); resolve(); }
      }, 5);
      setTimeout(() => { clearInterval(poll); s.destroy(); resolve(); }, 5000);
    })));
  }
  t.is(a.t.heardMs('p0'), Number.NEGATIVE_INFINITY, 'the oldest id was dropped');
  t.true(a.t.heardMs('p4199') > Number.NEGATIVE_INFINITY);
  t.true(ids.filter((id) => a.t.heardMs(id) > Number.NEGATIVE_INFINITY).length <= 4096);
});
