/**
 * The cluster secret on real sockets, in process: peers of the Raft transport and the internal
 * RESP handshake of routers/agents. Processes without the secret, or with another one, are
 * refused and logged, their frames never reach Raft, and nothing is forwarded to them.
 */
import test from 'ava';
import { createServer, type Socket } from 'node:net';
import { Transport, type TransportOptions } from '../../node/replication/transport.ts';
import type { Message } from '../../node/raft/types.ts';
import { startSingleNode } from '../../node/single/single-node.ts';
import { NodePool } from '../../router/node-connection.ts';
import { ClusterSecret } from '../../shared/security/cluster-proof.ts';
import { RespClient } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const SECRET = 'the-right-cluster-secret';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(10);
  return cond();
}

interface Peer {
  readonly t: Transport;
  readonly got: Message[];
  readonly hellos: string[];
  readonly logs: string[];
  readonly controls: string[];
}

async function peer(tt: { teardown(fn: () => unknown): void }, id: string, addrs: Map<string, string>, over: Partial<TransportOptions>): Promise<Peer> {
  const p = { got: [] as Message[], hellos: [] as string[], logs: [] as string[], controls: [] as string[] };
  let advertise = '';
  const t = new Transport({
    cluster: 'c1', shard: 's1', nodeId: id, advertise: () => advertise,
    addressOf: (other) => addrs.get(other), isRemoved: () => false,
    onMessage: (m) => p.got.push(m), onPeerHello: (h) => p.hellos.push(h.nodeId),
    onControl: async (from, c) => {
      p.controls.push(from.nodeId);
      return { echo: c };
    },
    onClientSocket: (socket) => socket.destroy(), onUnreachable: () => {}, onSnapshotSent: () => {},
    log: (l) => p.logs.push(l), backoffMsMin: 20, backoffMsMax: 100,
    ...over,
  });
  advertise = `127.0.0.1:${await t.listen('127.0.0.1', 0)}`;
  addrs.set(id, advertise);
  tt.teardown(() => t.close());
  return { t, ...p };
}

const msg = (from: string, to: string, index: number): Message => ({
  type: 'app', from, to, term: 1, index, logTerm: 1, commit: 0, entries: [], reject: false, rejectHint: 0,
});

test('peers with the same secret exchange Raft messages and control requests', async (t) => {
  const addrs = new Map<string, string>();
  const secret = new ClusterSecret(SECRET);
  const a = await peer(t, 'a', addrs, { clusterSecret: secret });
  const b = await peer(t, 'b', addrs, { clusterSecret: secret });
  for (let i = 0; i < 20; i++) a.t.send(msg('a', 'b', i));
  b.t.send(msg('b', 'a', 1));
  t.true(await until(() => b.got.length === 20 && a.got.length === 1));
  t.deepEqual(b.got.map((m) => m.index), Array.from({ length: 20 }, (_, i) => i));
  t.deepEqual(await a.t.request(addrs.get('b')!, { op: 'probe' }), { echo: { op: 'probe' } });
});

for (const [name, impostorSecret] of [['no secret', undefined], ['a wrong secret', 'a-wrong-cluster-secret']] as const) {
  test(`an impostor with the right shard id and ${name} is refused both ways`, async (t) => {
    const addrs = new Map<string, string>();
    const real = await peer(t, 'real', addrs, { clusterSecret: new ClusterSecret(SECRET) });
    const fake = await peer(t, 'fake', addrs, impostorSecret === undefined ? {} : { clusterSecret: new ClusterSecret(impostorSecret) });
    // Impostor -> real: votes and appends never reach Raft, its address is never learned.
    for (let i = 0; i < 10; i++) fake.t.send(msg('fake', 'real', i));
    await t.throwsAsync(fake.t.request(addrs.get('real')!, { op: 'join', nodeId: 'fake', addr: addrs.get('fake') }));
    // Real -> impostor: the impostor cannot prove the secret, so nothing is sent to it.
    for (let i = 0; i < 10; i++) real.t.send(msg('real', 'fake', i));
    await t.throwsAsync(real.t.request(addrs.get('fake')!, { op: 'probe' }));
    await sleep(300);
    t.deepEqual(real.got, []);
    t.deepEqual(real.hellos, []);
    t.deepEqual(real.controls, []);
    t.deepEqual(fake.got, [], 'the real node sent the impostor nothing');
    t.true(real.logs.some((l) => /refused peer fake/.test(l)), real.logs.join('\n'));
    t.false(real.logs.join('\n').includes(SECRET));
    if (impostorSecret === undefined) {
      // A node merely started without the secret: both sides say so, not "line too long".
      t.true(real.logs.some((l) => /runs without a cluster secret/.test(l)), real.logs.join('\n'));
      t.true(fake.logs.some((l) => /without a cluster secret|without one/.test(l)), fake.logs.join('\n'));
    }
  });
}

test('internal RESP handshake: CLUSTER needs the secret; a node that cannot prove it gets nothing', async (t) => {
  const dir = await tempDir(t);
  const node = await startSingleNode({ dataDir: dir, server: { port: 0, security: { clusterSecret: SECRET, log: () => {} } } });
  t.teardown(() => node.close());
  const port = node.address.port;
  const plain = await RespClient.connect(port);
  t.teardown(() => plain.close());
  t.regex(await plain.call('CLUSTER', 'OWNERSHIP'), /^-NOPERM /);
  t.regex(await plain.call('SEQDB.MOVEALIVE', '5'), /^-NOPERM /); // a client cannot hold off a take-over
  t.regex(await plain.call('SEQDB.PROVE', 'ab'.repeat(32)), /^-WRONGPASS /); // no challenge
  t.is(await plain.call('INC', 'b', 's'), ':1\r\n'); // clients are not affected (no password set)

  const logs: string[] = [];
  const good = new NodePool({ clusterSecret: new ClusterSecret(SECRET), log: (l) => logs.push(l) });
  t.teardown(() => good.closeAll());
  const out = await good.send(`127.0.0.1:${port}`, ['CLUSTER', 'OWNERSHIP'], 2000);
  // Past the gate: the engine answers (a single node is not part of a sharded cluster).
  t.true(out.ok && out.reply.kind === 'error' && out.reply.word === 'CLUSTERDOWN', JSON.stringify(out));

  const wrong = new NodePool({ clusterSecret: new ClusterSecret('a-wrong-cluster-secret'), log: (l) => logs.push(l) });
  t.teardown(() => wrong.closeAll());
  const refused = await wrong.send(`127.0.0.1:${port}`, ['INC', 'b', 's'], 2000);
  t.deepEqual(refused, { ok: false, why: 'unreachable' });
  t.is(await plain.call('GET', 'b', 's'), ':1\r\n', 'the INC held behind the failed handshake was never sent');
  t.true(logs.some((l) => /not using node/.test(l)), logs.join('\n'));
  // One refusal: the PROVE without a challenge above; the wrong-secret pool gave up before proving.
  t.regex(await plain.call('INFO'), /cluster_auth_failures:1\r\n/);

  // An impostor that answers anything: it sees the hello, never the command.
  const seen: Buffer[] = [];
  const impostor = createServer((s: Socket) => {
    s.on('data', (d: Buffer) => {
      seen.push(d);
      s.write('*2\r\n$32\r\n' + 'a'.repeat(32) + '\r\n$64\r\n' + 'b'.repeat(64) + '\r\n+OK\r\n:42\r\n');
    });
  });
  await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => impostor.close());
  const impostorPort = (impostor.address() as { port: number }).port;
  const toImpostor = await good.send(`127.0.0.1:${impostorPort}`, ['INC', 'b', 's'], 2000);
  t.deepEqual(toImpostor, { ok: false, why: 'unreachable' });
  const bytes = Buffer.concat(seen).toString('latin1');
  t.regex(bytes, /SEQDB\.HELLO/);
  t.notRegex(bytes, /INC/);
});

test('generated secrets can be passed as --cluster-secret values: never starting with "-"', (t) => {
  for (let i = 0; i < 2000; i++) {
    const secret = ClusterSecret.generate();
    t.regex(secret, /^[0-9a-f]{48}$/);
  }
});
